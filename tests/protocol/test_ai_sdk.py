"""The AI SDK UI message stream translator: a run's events in, stream parts out."""

from __future__ import annotations

from typing import Any

from praison_push.protocol.ai_sdk import UI_MESSAGE_STREAM_HEADERS, AiSdkTranslator
from praison_push.protocol.ui_stream import interrupt_id

from .test_agui import RUN, ev, rich_run


def translate(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    translator = AiSdkTranslator()
    return [event.fields for data in events for event in translator.feed(data)]


def test_the_mapping_holds() -> None:
    out = translate(rich_run())
    assert [part["type"] for part in out] == [
        "start", "start-step",
        "reasoning-start", "reasoning-delta", "reasoning-delta", "reasoning-end",
        "text-start", "text-delta", "text-end",
        "tool-input-start", "tool-input-delta", "tool-input-delta", "tool-input-available",
        "tool-output-available",
        "tool-input-start", "tool-input-available", "tool-approval-request", "finish-step",
        "finish",  # the pause
        "start", "start-step",  # the continued stream
        "tool-output-error", "text-start", "text-delta", "text-end", "finish-step", "finish",
    ]  # fmt: skip
    assert out[0] == {"type": "start", "messageId": RUN}
    available = out[12]
    # Streamed arguments are parsed for the part's ``input`` when the call event has none.
    assert available["input"] == {"city": "Paris"} and available["toolName"] == "get_weather"
    assert out[13]["output"] == {"t": 18}
    request = out[16]
    assert request == {
        "type": "tool-approval-request",
        "approvalId": interrupt_id(RUN, "c2"),
        "toolCallId": "c2",
    }
    assert out[18] == {"type": "finish", "finishReason": "tool-calls"}
    assert out[21] == {"type": "tool-output-error", "toolCallId": "c2", "errorText": "nope"}
    assert UI_MESSAGE_STREAM_HEADERS == {"x-vercel-ai-ui-message-stream": "v1"}


def test_a_denial_is_tool_output_denied() -> None:
    out = translate(
        [
            ev("start"),
            ev("approval_request", tool_call_id="c2", name="rm", arguments={}),
            ev("approval_result", tool_call_id="c2", name="rm", approved=False, reason="no"),
        ]
    )
    assert out[-1] == {"type": "tool-output-denied", "toolCallId": "c2"}


def test_a_cancelled_run_ends_with_an_error_part_naming_the_reason() -> None:
    translator = AiSdkTranslator("msg")
    parts = [
        event
        for data in (
            ev("start"),
            ev("token", token="half"),
            ev("error", status="cancelled", error={"code": "CANCELLED", "message": "cancelled"}),
        )
        for event in translator.feed(data)
    ]
    assert parts[0].fields == {"type": "start", "messageId": "msg"}
    assert [p.fields["type"] for p in parts][-2:] == ["text-end", "error"]
    assert parts[-1].fields["errorText"] == "CANCELLED: cancelled"
    assert parts[-1].ends_stream


def test_empty_text_makes_no_part() -> None:
    assert translate([ev("start"), ev("token", token=""), ev("reasoning", delta="")]) == [
        {"type": "start", "messageId": RUN},
        {"type": "start-step"},
    ]


def test_fail_is_one_error_part() -> None:
    translator = AiSdkTranslator()
    out = [e.fields for e in translator.fail("HISTORY_GONE", "gone")]
    assert out == [{"type": "error", "errorText": "HISTORY_GONE: gone"}]
    assert translator.feed(ev("token", token="late")) == []
