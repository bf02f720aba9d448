"""A run handle on its own: run events, the recorder that feeds the handle, the handle.

No client and no loop turns counted: each test feeds a :class:`RunRecorder`
(what the client's run registry does from its receive loop) and reads the
:class:`Execution` over it, whose fields come from the shared reducer
:class:`~praison_push.protocol.runs.RunState`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from support import SHORT, WAIT, Recorder, wait_until

from praison_push.client import (
    ChannelMessage,
    ConnectionClosedError,
    Execution,
    ExecutionEvent,
    ExecutionFailed,
    PushError,
)
from praison_push.client.recorder import RunRecorder
from praison_push.protocol.runs import RunErrorCode, RunEvent, RunState

from .helpers import started


def message(event: str, n: int = 1, /, **fields: Any) -> ChannelMessage:
    """The ``n``-th message of run exec_x's channel, carrying ``event``."""
    data = {"event": event, "execution_id": "exec_x", "agent_id": "a", **fields}
    return ChannelMessage("executions:exec_x", data, f"e{n}", 0.0, None, n, "ep")


def run(execution_id: str = "exec_x", agent_id: str = "") -> tuple[RunRecorder, Execution]:
    """A recorder and the handle reading it, watched by no client."""
    recorder = RunRecorder(execution_id, agent_id)
    return recorder, Execution(recorder)


# --- ExecutionEvent ------------------------------------------------------------------


def test_event_fields_follow_the_kind() -> None:
    token = ExecutionEvent.from_message(message("execution_token", token="Hi", index=0))
    assert token is not None
    assert (token.kind, token.token, token.index, token.execution_id) == (
        "execution_token",
        "Hi",
        0,
        "exec_x",
    )
    assert (token.tool_call, token.output, token.usage, token.error, token.status) == (None,) * 5
    assert not token.is_terminal
    assert (token.event_id, token.offset, token.count) == ("e1", 1, 1)
    chunk = ExecutionEvent("execution_token", {"token": "a b", "index": 3, "count": 2})
    assert (chunk.count, chunk.index) == (2, 3)
    assert ExecutionEvent("execution_token", {"token": "a", "count": "2"}).count == 1
    assert token.to_dict()["token"] == "Hi" and token.to_dict()["event"] == "execution_token"
    assert str(token) == "token 0: 'Hi'"

    tool = ExecutionEvent("execution_tool", {"tool_call": {"name": "f", "status": "calling"}})
    assert tool.tool_call == {"name": "f", "status": "calling"} and str(tool) == "tool f calling"
    assert tool.token is None and tool.index is None and tool.execution_id is None
    assert tool.count is None

    done = ExecutionEvent(
        "execution_complete", {"status": "completed", "output": "ok", "usage": {"total_tokens": 2}}
    )
    assert (done.output, done.usage, done.status, done.is_terminal) == (
        "ok",
        {"total_tokens": 2},
        "completed",
        True,
    )
    assert str(done) == "completed: ok"

    error = ExecutionEvent(
        "execution_error", {"status": "failed", "error": {"code": "X", "message": "m"}}
    )
    assert error.error == {"code": "X", "message": "m"} and str(error) == "failed: X: m"
    assert str(ExecutionEvent("execution_start", {"status": "running"})) == (
        "execution_start (running)"
    )
    assert str(ExecutionEvent("something_new")) == "something_new"


def test_event_from_a_message_that_is_no_event() -> None:
    for data in (None, "text", {"no": "event"}, {"event": 3}):
        assert ExecutionEvent.from_message(ChannelMessage("executions:x", data)) is None


def test_event_index_ignores_booleans_and_tool_call_must_be_a_mapping() -> None:
    token = ExecutionEvent("execution_token", {"token": "a", "index": True})
    assert token.index is None
    assert ExecutionEvent("execution_tool", {"tool_call": "junk"}).tool_call is None


# --- the record and the reducer ----------------------------------------------------------


def test_the_handle_shows_what_the_shared_reducer_makes_of_the_events() -> None:
    recorder, execution = run()
    reference = RunState("exec_x", "", "running")
    events = [
        {"event": "execution_start", "status": "running"},
        {"event": "execution_tool", "tool_call": {"id": "t1", "name": "f", "status": "calling"}},
        {"event": "execution_tool", "tool_call": {"id": "t1", "status": "completed"}},
        {"event": "execution_token", "token": "a", "index": 0, "count": 2},
        {"event": "execution_complete", "status": "completed", "usage": {"total_tokens": 2}},
    ]
    for n, data in enumerate(events, 1):
        recorder.record(message(str(data["event"]), n, **data))
        reference.apply(str(data["event"]), {"execution_id": "exec_x", "agent_id": "a", **data})
    assert recorder.state is not reference
    fields = ("status", "tokens", "token_count", "tool_calls", "usage", "output", "error")
    assert {f: getattr(execution, f) for f in fields} == {f: getattr(reference, f) for f in fields}
    assert execution.tool_calls == [{"id": "t1", "name": "f", "status": "completed"}]


async def test_handle_records_a_run_as_its_events_arrive() -> None:
    recorder, execution = run()
    assert (execution.agent_id, execution.channel, execution.status) == (
        "",
        "executions:exec_x",
        "running",
    )
    recorder.record(message("execution_start", 1, status="running"))
    assert execution.agent_id == "a"
    call = {"id": "t1", "name": "get_weather", "status": "calling", "arguments": {"city": "P"}}
    recorder.record(message("execution_tool", 2, tool_call=call))
    (recorded,) = execution.tool_calls
    recorder.record(
        message("execution_tool", 3, tool_call={"id": "t1", "status": "completed", "result": 1})
    )
    assert execution.tool_calls == [recorded]  # updated in place, not appended
    assert recorded == {
        "id": "t1",
        "name": "get_weather",
        "status": "completed",
        "arguments": {"city": "P"},
        "result": 1,
    }
    recorder.record(message("execution_tool", 4, tool_call={"name": "anonymous"}))
    recorder.record(message("execution_tool", 5, tool_call={"name": "anonymous"}))
    assert [c["name"] for c in execution.tool_calls] == ["get_weather", "anonymous", "anonymous"]
    recorder.record(message("execution_token", 6, token="Hello ", index=0))
    recorder.record(message("execution_token", 7, token="big world", index=1, count=2))
    assert (execution.output, execution.tokens, execution.token_count, execution.done) == (
        "Hello big world",
        ["Hello ", "big world"],
        3,
        False,
    )
    recorder.record(message("execution_complete", 8, status="completed", output="Hello world!"))
    assert (execution.status, execution.output, execution.done) == (
        "completed",
        "Hello world!",
        True,
    )
    # A finished run's repr and str are its transcript.
    assert (
        repr(execution)
        == str(execution)
        == (
            "✓ a completed · 3 tokens · 3 tool calls\n"
            '⚙ get_weather {"city": "P"} → 1\n'
            "⚙ anonymous {} …\n"
            "⚙ anonymous {} …\n"
            "Hello world!"
        )
    )
    assert (execution.usage, execution.latency_ms) == (None, None)
    assert [e.kind for e in execution.events][-1] == "execution_complete"


async def test_handle_drops_repeats_non_events_and_anything_after_the_end() -> None:
    recorder, execution = run("exec_x", "a")
    token = message("execution_token", 1, token="x", index=0)
    recorder.record(token)
    recorder.record(token)  # a redelivery or replay
    recorder.record(ChannelMessage("executions:exec_x", "not an event", "e2"))
    recorder.record(message("execution_something_new", 3))
    recorder.record(message("execution_tool", 30))  # no tool_call: recorded, nothing to update
    assert execution.tool_calls == []
    kinds = ["execution_token", "execution_something_new", "execution_tool"]
    assert [e.kind for e in execution.events] == kinds
    recorder.record(message("execution_complete", 4, latency_ms=7.6, usage="junk"))
    recorder.record(message("execution_token", 5, token="late", index=1))
    assert execution.tokens == ["x"] and execution.latency_ms == 8 and execution.usage is None
    assert execution.output == "x"  # no output field: the streamed text stands
    recorder.record(message("execution_complete", 6))
    assert len(execution.events) == 4


async def test_handle_records_failures_and_cancellations() -> None:
    recorder, failed = run()
    recorder.record(
        message(
            "execution_error",
            status="failed",
            error={"code": "TOOL_EXECUTION_FAILED", "message": "boom", "details": {"t": 1}},
        )
    )
    assert (failed.status, failed.error) == (
        "failed",
        {"code": "TOOL_EXECUTION_FAILED", "message": "boom", "details": {"t": 1}},
    )
    with pytest.raises(ExecutionFailed) as caught:
        await failed.result()
    error = caught.value
    assert isinstance(error, PushError)
    assert (error.code, error.message, error.status, error.execution_id, error.details) == (
        "TOOL_EXECUTION_FAILED",
        "boom",
        "failed",
        "exec_x",
        {"t": 1},
    )
    assert str(error) == "TOOL_EXECUTION_FAILED: boom"

    recorder, cancelled = run("exec_y")
    recorder.record(message("execution_error", status="cancelled", error={"code": "CANCELLED"}))
    assert cancelled.status == "cancelled"
    with pytest.raises(ExecutionFailed) as caught:
        await cancelled.result()
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        "cancelled",
        "CANCELLED",
        "",
    )

    recorder, odd = run("exec_z")
    recorder.record(message("execution_error", status="weird"))
    assert (odd.status, odd.error) == ("failed", {"code": "UNKNOWN", "message": ""})
    with pytest.raises(ExecutionFailed, match="UNKNOWN"):
        await odd.result()


async def test_a_lost_run_ends_as_failed_with_execution_lost() -> None:
    recorder, execution = run("exec_x", "a")
    recorder.record(message("execution_start", 1, status="running"))
    recorder.lose("gone")
    assert (execution.status, execution.done, execution.gap) == ("failed", True, True)
    assert execution.error == {"code": RunErrorCode.EXECUTION_LOST.value, "message": "gone"}
    assert execution.events[-1].kind == RunEvent.ERROR
    assert execution.events[-1].event_id == ""  # made up here, not published
    with pytest.raises(ExecutionFailed) as caught:
        await execution.result()
    assert caught.value.code == "EXECUTION_LOST"


async def test_cancel_needs_a_client_unless_the_run_is_over() -> None:
    recorder, execution = run()
    with pytest.raises(RuntimeError, match="not attached"):
        await execution.cancel()
    recorder.record(message("execution_complete", status="completed", output=""))
    assert await execution.cancel() is False


# --- waiting and iterating ----------------------------------------------------------------


async def test_every_iterator_sees_every_event_from_the_first() -> None:
    recorder, execution = run()
    recorder.record(message("execution_start", 1, status="running"))

    async def collect() -> list[str]:
        return [event.kind async for event in execution]

    first = await started(collect())
    recorder.record(message("execution_token", 2, token="a", index=0))
    second = await started(collect())
    recorder.record(message("execution_complete", 3, status="completed", output="a"))
    kinds = ["execution_start", "execution_token", "execution_complete"]
    assert await asyncio.wait_for(first, WAIT) == kinds
    assert await asyncio.wait_for(second, WAIT) == kinds
    assert await collect() == kinds  # after the end, too


async def test_a_cancelled_wait_for_the_next_event_loses_nothing() -> None:
    recorder, execution = run()
    cursor = execution.__aiter__()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(cursor.__anext__(), SHORT / 4)
    recorder.record(message("execution_token", 1, token="a", index=0))
    event = await asyncio.wait_for(cursor.__anext__(), WAIT)
    assert event.token == "a"
    assert cursor.__aiter__() is cursor
    assert "at 1" in repr(cursor)


async def test_result_and_wait_time_out_without_ending_the_run() -> None:
    recorder, execution = run()
    with pytest.raises(asyncio.TimeoutError, match="still running"):
        await execution.result(timeout=SHORT / 4)
    with pytest.raises(asyncio.TimeoutError):
        await execution.wait(timeout=SHORT / 4)
    assert not execution.done
    recorder.record(message("execution_complete", status="completed", output="done"))
    assert await execution.wait() is execution
    assert await execution.result(timeout=SHORT) == "done"


async def test_a_closed_client_releases_waiters_with_the_close_error() -> None:
    recorder, execution = run()
    recorder.record(message("execution_token", 1, token="a", index=0))
    iterated: list[str] = []

    async def iterate() -> None:
        async for event in execution:
            iterated.append(event.kind)

    iterating = await started(iterate())
    waiting = await started(execution.result())
    recorder.fail(ConnectionClosedError(1000, "bye"))
    recorder.fail(ConnectionClosedError(1001, "ignored"))
    with pytest.raises(ConnectionClosedError, match="1000"):
        await asyncio.wait_for(waiting, WAIT)
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(iterating, WAIT)
    assert iterated == ["execution_token"]  # what had arrived is still yielded first
    assert not execution.done and execution.status == "running"


# --- callbacks ----------------------------------------------------------------------------


async def test_callbacks_get_past_events_then_live_ones(caplog: pytest.LogCaptureFixture) -> None:
    recorder, execution = run()
    recorder.record(message("execution_start", 1, status="running"))
    plain, later, seen_async = Recorder(), Recorder(), Recorder()

    async def async_callback(event: ExecutionEvent) -> None:
        seen_async(event.kind)

    def broken(event: ExecutionEvent) -> None:
        raise RuntimeError("callback bug")

    assert execution.subscribe(plain) is plain
    execution.subscribe(plain)  # once only
    execution.subscribe(async_callback)
    with caplog.at_level(logging.ERROR, "praison_push.client"):
        execution.subscribe(broken)
        assert set(execution.on_event) == {plain, async_callback, broken}
        await plain.wait(1)
        recorder.record(message("execution_token", 2, token="a", index=0))
        recorder.record(message("execution_complete", 3, status="completed", output="a"))
        await plain.wait(3)
        execution.subscribe(later)  # after the end: the whole run is replayed
        await later.wait(3)
        await wait_until(lambda: execution.on_event == ())
    kinds = ["execution_start", "execution_token", "execution_complete"]
    assert [e.kind for e in plain.calls] == [e.kind for e in later.calls] == kinds
    assert seen_async.calls == kinds
    # Each event broken() raised on is logged, with the callback's name; the others ran on.
    raised = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(raised) == 3 and all(r.exc_info is not None for r in raised)
    assert str(raised[0].exc_info[1]) == "callback bug"  # type: ignore[index]
    with pytest.raises(TypeError):
        execution.subscribe("nope")  # type: ignore[arg-type]


async def test_unsubscribed_callbacks_stop_and_a_closed_client_ends_them() -> None:
    recorder, execution = run()
    kept, dropped = Recorder(), Recorder()
    execution.subscribe(kept)
    execution.subscribe(dropped)
    recorder.record(message("execution_token", 1, token="a", index=0))
    await kept.wait(1)
    await dropped.wait(1)
    assert execution.unsubscribe(dropped) is True
    assert execution.unsubscribe(dropped) is False
    recorder.record(message("execution_token", 2, token="b", index=1))
    await kept.wait(2)
    recorder.fail(ConnectionClosedError(1000))
    await wait_until(lambda: execution.on_event == ())
    assert len(dropped.calls) == 1 and len(kept.calls) == 2


# --- reprs ----------------------------------------------------------------------------------


async def test_reprs_summarise_and_escape() -> None:
    recorder, execution = run("exec_x", "demo-weather")
    assert repr(execution) == "<Execution exec_x demo-weather running 0 tokens>"
    assert repr(run("exec_y")[1]) == "<Execution exec_y ? running 0 tokens>"
    call = {"id": "t", "name": "<b>tool</b>", "status": "calling", "arguments": {"q": "`x`"}}
    recorder.record(message("execution_tool", 1, tool_call=call))
    recorder.record(message("execution_token", 2, token="<script>alert(1)</script> ``` ", index=0))
    assert repr(execution).endswith("running 1 token>")
    page = execution._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;tool" in page
    markdown = execution._repr_markdown_()
    assert "````text\n<script>alert(1)</script> ``` \n````" in markdown
    assert '``{"q":"`x`"}``' in markdown
    recorder.record(
        message("execution_tool", 3, tool_call={"id": "t", "status": "failed", "error": "no"})
    )
    recorder.record(message("execution_error", 4, status="failed",
                            error={"code": "X", "message": "<i>why</i>"}))  # fmt: skip
    assert "&lt;i&gt;why" in execution._repr_html_() and "✗" in execution._repr_html_()
    assert "Error: `X: <i>why</i>`" in execution._repr_markdown_()


async def test_reprs_of_a_completed_run_with_a_long_answer() -> None:
    recorder, execution = run("exec_x", "a")
    call = {"id": "t", "name": "f", "status": "completed", "arguments": {}, "result": [1]}
    recorder.record(message("execution_tool", 1, tool_call=call))
    recorder.record(
        message("execution_complete", 2, status="completed", output="y" * 5000, latency_ms=9)
    )
    assert "completed, 0 tokens, 1 tool call, 9 ms" in execution._repr_markdown_()
    assert "(1000 more characters)" in execution._repr_html_()
    assert "{} → [1]" in execution._repr_markdown_()
    blank = run("exec_y", " ")[1]
    assert "` `" in blank._repr_markdown_()


def test_event_fields_of_the_richer_run_events() -> None:
    reasoning = ExecutionEvent("execution_reasoning", {"delta": "hmm"})
    delta = ExecutionEvent(
        "execution_tool_call_delta", {"tool_call_id": "c", "name": "f", "delta": "{"}
    )
    asked = ExecutionEvent("execution_approval_request", {"tool_call_id": "c", "name": "f"})
    answered = ExecutionEvent("execution_approval_result", {"tool_call_id": "c", "approved": True})
    assert reasoning.reasoning == "hmm" and delta.reasoning is None
    assert delta.tool_call_delta == {"tool_call_id": "c", "name": "f", "delta": "{"}
    assert asked.approval_request == {"tool_call_id": "c", "name": "f"}
    assert answered.approval_result == {"tool_call_id": "c", "approved": True}
    assert reasoning.tool_call_delta is None and delta.approval_request is None
    assert asked.approval_result is None and answered.token is None
