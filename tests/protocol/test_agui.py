"""The AG-UI translator: a run's events in, AG-UI events out, each valid per the
``ag-ui-protocol`` models; deterministic, so a replay gives the same events."""

from __future__ import annotations

from typing import Any

import pytest
from ag_ui.core import Event, RunAgentInput
from pydantic import TypeAdapter

from praison_push.protocol.agui import AguiTranslator
from praison_push.protocol.ui_stream import (
    event_id,
    interrupt_id,
    parse_event_id,
    split_interrupt_id,
)

EVENTS = TypeAdapter(Event)
RUN = "exec_0123456789abcdef"


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"event": f"execution_{kind}", "execution_id": RUN, "agent_id": "a", **fields}


def rich_run() -> list[dict[str, Any]]:
    """Reasoning, text, a streamed tool call, a tool result, an approval, the end."""
    return [
        ev("start", status="running"),
        ev("reasoning", delta="Let me "),
        ev("reasoning", delta="think."),
        ev("token", token="Checking ", index=0),
        ev("tool_call_delta", tool_call_id="c1", name="get_weather", delta='{"city":'),
        ev("tool_call_delta", tool_call_id="c1", delta='"Paris"}'),
        ev("tool", tool_call={"id": "c1", "name": "get_weather", "status": "calling"}),
        ev("tool", tool_call={"id": "c1", "name": "get_weather", "status": "completed",
                              "result": {"t": 18}}),
        ev("approval_request", tool_call_id="c2", name="rm", arguments={"p": "/x"}, timeout=5),
        ev("approval_result", tool_call_id="c2", name="rm", approved=True),
        ev("tool", tool_call={"id": "c2", "name": "rm", "status": "failed", "error": "nope"}),
        ev("token", token="Done.", index=1),
        ev("complete", status="completed", output="Checking Done.",
           usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
    ]  # fmt: skip


def translate(events: list[dict[str, Any]], thread: str | None = "th") -> list[dict[str, Any]]:
    translator = AguiTranslator(thread)
    out = []
    for data in events:
        out.extend(event.fields for event in translator.feed(data))
    return out


def test_every_event_is_a_valid_ag_ui_event_and_the_mapping_holds() -> None:
    out = translate(rich_run())
    for fields in out:
        EVENTS.validate_python(fields)  # raises on any invalid event
    types = [fields["type"] for fields in out]
    assert types == [
        "RUN_STARTED",
        "REASONING_START", "REASONING_MESSAGE_START", "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_CONTENT", "REASONING_MESSAGE_END", "REASONING_END",
        "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
        "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_ARGS", "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "RUN_FINISHED",  # the pause
        "RUN_STARTED",  # the resumed stream
        "TOOL_CALL_RESULT", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]  # fmt: skip
    assert out[0] == {"type": "RUN_STARTED", "threadId": "th", "runId": RUN}
    args = "".join(
        f["delta"] for f in out if f["type"] == "TOOL_CALL_ARGS" and f["toolCallId"] == "c1"
    )
    assert args == '{"city":"Paris"}'  # streamed once, never repeated by the call event
    result = next(f for f in out if f["type"] == "TOOL_CALL_RESULT")
    assert (result["toolCallId"], result["content"]) == ("c1", '{"t":18}')
    pause = out[18]
    assert pause["outcome"]["type"] == "interrupt"
    (interrupt,) = pause["outcome"]["interrupts"]
    assert interrupt["id"] == interrupt_id(RUN, "c2") and interrupt["toolCallId"] == "c2"
    failed = out[20]
    assert failed["content"] == "error: nope"
    assert out[-1]["result"] == "Checking Done." and out[-1]["outcome"] == {"type": "success"}
    assert out[-1]["usage"] == [{"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}]


def test_the_stream_ends_at_the_pause_and_at_the_end() -> None:
    translator = AguiTranslator("th")
    ends = [e.fields["type"] for data in rich_run() for e in translator.feed(data) if e.ends_stream]
    assert ends == ["RUN_FINISHED", "RUN_FINISHED"]
    assert translator.feed(ev("token", token="late")) == []  # nothing after the end


def test_a_cancelled_run_ends_with_run_error_naming_the_reason() -> None:
    out = translate(
        [
            ev("start"),
            ev("token", token="half"),
            ev("error", status="cancelled", error={"code": "CANCELLED", "message": "cancelled"}),
        ]
    )
    for fields in out:
        EVENTS.validate_python(fields)
    assert [f["type"] for f in out][-2:] == ["TEXT_MESSAGE_END", "RUN_ERROR"]
    assert out[-1] == {"type": "RUN_ERROR", "message": "cancelled", "code": "CANCELLED"}


def test_translation_is_deterministic() -> None:
    assert translate(rich_run()) == translate(rich_run())


def test_a_run_without_a_thread_uses_its_session_or_its_id() -> None:
    assert translate([ev("start", session_id="conv")], None)[0]["threadId"] == "conv"
    assert translate([ev("start")], None)[0]["threadId"] == RUN


def test_event_ids_round_trip_and_reject_garbage() -> None:
    assert parse_event_id(event_id(RUN, (12, 3))) == (RUN, (12, 3))
    for bad in ("", "x", f"{RUN}:1", f"{RUN}:a:1", f"{RUN}:1:2:3", "a b:1:1"):
        assert parse_event_id(bad) is None, bad
    assert split_interrupt_id(interrupt_id(RUN, "c:1")) == (RUN, "c:1")
    assert split_interrupt_id("nocolon") is None


@pytest.mark.parametrize("content", ["hi", [{"type": "text", "text": "hi"}]])
def test_run_agent_input_is_the_packages_model(content: Any) -> None:
    # The shapes the endpoint accepts are exactly the package's (camelCase on the wire).
    body = {
        "threadId": "t",
        "runId": "r",
        "messages": [{"id": "1", "role": "user", "content": content}],
    }
    assert RunAgentInput.model_validate(body).thread_id == "t"


def test_fail_is_a_whole_valid_stream_that_fails() -> None:
    translator = AguiTranslator("th", RUN)
    out = [e.fields for e in translator.fail("HISTORY_GONE", "gone")]
    assert out == [
        {"type": "RUN_STARTED", "threadId": "th", "runId": RUN},
        {"type": "RUN_ERROR", "message": "gone", "code": "HISTORY_GONE"},
    ]
    for fields in out:
        EVENTS.validate_python(fields)
    assert translator.feed(ev("token", token="late")) == []
