"""The run reducer on the richer events: argument deltas, reasoning, approvals."""

from __future__ import annotations

from typing import Any

from praison_push.protocol.runs import ApprovalStatus, RunEvent, RunState, ToolStatus

RUN = {"execution_id": "exec_1", "agent_id": "chat"}


def feed(state: RunState, *events: tuple[RunEvent, dict[str, Any]]) -> list[bool]:
    return [state.apply(kind.value, {**RUN, **data}) for kind, data in events]


def test_argument_deltas_accumulate_into_the_tool_call_before_it_is_called() -> None:
    state = RunState()
    changed = feed(
        state,
        (RunEvent.TOOL_CALL_DELTA, {"tool_call_id": "c1", "name": "get_weather", "delta": '{"ci'}),
        (RunEvent.TOOL_CALL_DELTA, {"tool_call_id": "c1", "delta": 'ty": "Paris"}'}),
    )
    assert changed == [True, True]
    assert state.tool_calls == [
        {
            "id": "c1",
            "name": "get_weather",
            "status": ToolStatus.STREAMING.value,
            "arguments_text": '{"city": "Paris"}',
        }
    ]
    feed(
        state,
        (RunEvent.TOOL, {"tool_call": {"id": "c1", "name": "get_weather", "status": "calling",
                                       "arguments": {"city": "Paris"}}}),
        (RunEvent.TOOL, {"tool_call": {"id": "c1", "name": "get_weather", "status": "completed",
                                       "result": 18, "duration_ms": 3}}),
    )  # fmt: skip
    (call,) = state.tool_calls
    assert call["status"] == "completed"
    assert call["arguments"] == {"city": "Paris"}
    assert call["arguments_text"] == '{"city": "Paris"}'  # kept: what was streamed
    assert call["duration_ms"] == 3
    assert state.tool_call("c1") is call


def test_malformed_deltas_change_nothing() -> None:
    state = RunState()
    assert (
        feed(
            state,
            (RunEvent.TOOL_CALL_DELTA, {"tool_call_id": "", "delta": "x"}),
            (RunEvent.TOOL_CALL_DELTA, {"tool_call_id": "c1", "delta": 7}),
            (RunEvent.REASONING, {"delta": None}),
            (RunEvent.APPROVAL_REQUEST, {"name": "rm"}),
            (RunEvent.APPROVAL_RESULT, {"tool_call_id": "never-asked", "approved": True}),
        )
        == [False] * 5
    )
    assert state.tool_calls == [] and state.reasoning == [] and state.approvals == {}


def test_reasoning_is_kept_apart_from_the_answer() -> None:
    state = RunState()
    feed(
        state,
        (RunEvent.REASONING, {"delta": "The user wants "}),
        (RunEvent.REASONING, {"delta": "a greeting."}),
        (RunEvent.TOKEN, {"token": "Hello", "index": 0}),
    )
    assert state.reasoning_text == "The user wants a greeting."
    assert state.output == "Hello"


def test_an_approval_request_pends_until_answered() -> None:
    state = RunState()
    request = {"tool_call_id": "c9", "name": "delete", "arguments": {"path": "/x"}, "timeout": 30}
    feed(state, (RunEvent.APPROVAL_REQUEST, request))
    assert state.pending_approvals == [{**request, "status": ApprovalStatus.PENDING.value}]
    (call,) = state.tool_calls
    assert call["approval"] == "pending"
    assert call["arguments"] == {"path": "/x"}

    feed(state, (RunEvent.APPROVAL_RESULT, {"tool_call_id": "c9", "approved": False,
                                            "reason": "not today"}))  # fmt: skip
    assert state.pending_approvals == []
    assert state.approvals["c9"]["status"] == ApprovalStatus.DENIED.value
    assert state.approvals["c9"]["reason"] == "not today"
    assert (call["approval"], call["approval_reason"]) == ("denied", "not today")


def test_a_timed_out_approval_is_a_denial_that_says_so() -> None:
    state = RunState()
    feed(
        state,
        (RunEvent.APPROVAL_REQUEST, {"tool_call_id": "c2", "name": "pay", "arguments": {}}),
        (RunEvent.APPROVAL_RESULT, {"tool_call_id": "c2", "approved": False, "timed_out": True,
                                    "reason": "no answer within 5s"}),
    )  # fmt: skip
    assert state.approvals["c2"]["status"] == "denied"
    assert state.approvals["c2"]["timed_out"] is True


def test_an_approved_request_then_runs_the_tool() -> None:
    state = RunState()
    feed(
        state,
        (
            RunEvent.APPROVAL_REQUEST,
            {"tool_call_id": "c3", "name": "send", "arguments": {"to": "a"}},
        ),
        (RunEvent.APPROVAL_RESULT, {"tool_call_id": "c3", "approved": True}),
        (RunEvent.TOOL, {"tool_call": {"id": "c3", "name": "send", "status": "calling"}}),
    )
    (call,) = state.tool_calls
    assert (call["approval"], call["status"], call["approval_reason"]) == (
        "approved",
        "calling",
        None,
    )
