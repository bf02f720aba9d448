"""``RunManager`` on the richer run events: argument deltas, reasoning, tool timing,
recoverable tool errors, agent error codes, and human approval."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from support import wait_until

from praison_push.agents import (
    AgentContext,
    AgentError,
    AgentEvent,
    AgentRegistry,
    Approval,
    Reasoning,
    ToolCall,
    ToolCallDelta,
    ToolResult,
)
from praison_push.config import RunsConfig
from praison_push.hub import Principal, RunManager, RunRecord
from praison_push.protocol import ErrorCode, FrameError
from praison_push.protocol.runs import RunErrorCode, RunEvent

from .test_run_manager import Published, finish

ALICE = Principal(user_id="alice", org_id="acme")
ALICES_BOSS = Principal(user_id="boss", org_id="acme")
MALLORY = Principal(user_id="mallory", org_id="acme")
OTHER_BOSS = Principal(user_id="boss", org_id="globex")
NOBODY = Principal()


def kinds(published: Published, channel: str) -> list[str]:
    return [data["event"] for data in published.on(channel)]


def events(published: Published, run: RunRecord, kind: RunEvent) -> list[dict[str, Any]]:
    return [data for data in published.on(run.channel) if data["event"] == kind.value]


def manager(registry: AgentRegistry, published: Published, **config: Any) -> RunManager:
    return RunManager(registry, published.publish, config=RunsConfig(**config))


async def start(
    runs: RunManager, agent: str, principal: Principal = NOBODY, **kw: Any
) -> RunRecord:
    run = runs.prepare(agent, "go", principal=principal, **kw)
    runs.start(run)
    return run


async def test_text_of_each_kind_is_chunked_and_the_order_is_kept() -> None:
    """Tokens, reasoning and argument text coalesce by kind; a change of kind sends what
    waits first, so the events come in the order the agent yielded them."""

    async def thinker(text: str) -> AsyncIterator[AgentEvent]:
        yield Reasoning("Let me ")
        yield Reasoning("think.")
        yield ToolCallDelta("c1", '{"ci', name="get_weather")
        yield ToolCallDelta("c1", 'ty": "Paris"}')
        call = ToolCall("get_weather", {"city": "Paris"}, id="c1")
        yield call
        yield ToolResult(call, {"temperature": 18}, duration_ms=12.34567)
        yield "It is "
        yield "18°C."

    registry, published = AgentRegistry(), Published()
    registry.register("thinker", thinker)
    runs = RunManager(registry, published.publish, token_interval=60.0)  # nothing is due by time
    run = await start(runs, "thinker")
    await finish(run)
    assert kinds(published, run.channel) == [
        "execution_start",
        "execution_reasoning",  # the first text goes at once: a slow agent is never delayed
        "execution_reasoning",
        "execution_tool_call_delta",
        "execution_tool",
        "execution_tool",
        "execution_token",
        "execution_complete",
    ]
    assert [event["delta"] for event in events(published, run, RunEvent.REASONING)] == [
        "Let me ",
        "think.",
    ]
    (delta,) = events(published, run, RunEvent.TOOL_CALL_DELTA)
    assert (delta["tool_call_id"], delta["name"], delta["delta"]) == (
        "c1",
        "get_weather",
        '{"city": "Paris"}',
    )
    done = events(published, run, RunEvent.TOOL)[1]["tool_call"]
    assert done == {
        "id": "c1",
        "name": "get_weather",
        "status": "completed",
        "result": {"temperature": 18},
        "duration_ms": 12.346,
    }
    (token,) = events(published, run, RunEvent.TOKEN)
    assert (token["token"], token["count"], token["index"]) == ("It is 18°C.", 2, 0)
    complete = events(published, run, RunEvent.COMPLETE)[0]
    assert complete["output"] == "It is 18°C."  # reasoning and arguments are not the answer
    assert complete["usage"]["completion_tokens"] == 2


async def test_deltas_of_two_tool_calls_stay_apart() -> None:
    async def two(text: str) -> AsyncIterator[AgentEvent]:
        yield ToolCallDelta("a", "{", name="f")
        yield ToolCallDelta("b", "{", name="g")
        yield ToolCallDelta("a", "}")

    registry, published = AgentRegistry(), Published()
    registry.register("two", two)
    run = await start(RunManager(registry, published.publish, token_interval=60.0), "two")
    await finish(run)
    deltas = events(published, run, RunEvent.TOOL_CALL_DELTA)
    assert [(d["tool_call_id"], d.get("name"), d["delta"]) for d in deltas] == [
        ("a", "f", "{"),
        ("b", "g", "{"),
        ("a", "f", "}"),  # every delta names its call's tool once it is known
    ]


async def test_a_recoverable_tool_error_shows_and_the_run_goes_on() -> None:
    async def careful(text: str) -> AsyncIterator[AgentEvent]:
        call = ToolCall("lookup", {"q": "x"}, id="t1")
        yield call
        yield ToolResult(call, error="ValueError: no such thing")
        yield "Sorry, I could not find it."

    registry, published = AgentRegistry(), Published()
    registry.register("careful", careful)
    run = await start(RunManager(registry, published.publish), "careful")
    await finish(run)
    failed = events(published, run, RunEvent.TOOL)[1]["tool_call"]
    assert failed == {
        "id": "t1",
        "name": "lookup",
        "status": "failed",
        "error": "ValueError: no such thing",
    }
    assert events(published, run, RunEvent.COMPLETE)[0]["output"] == "Sorry, I could not find it."


async def test_an_agent_error_ends_the_run_with_its_own_code() -> None:
    async def limited(text: str) -> AsyncIterator[AgentEvent]:
        yield "partial "
        raise AgentError(RunErrorCode.RATE_LIMITED, "model rate limited", {"retry_after": 7})

    registry, published = AgentRegistry(), Published()
    registry.register("limited", limited)
    run = await start(RunManager(registry, published.publish), "limited")
    await finish(run)
    (error,) = events(published, run, RunEvent.ERROR)
    assert error["status"] == "failed"
    assert error["error"] == {
        "code": "RATE_LIMITED",
        "message": "model rate limited",
        "details": {"retry_after": 7},
    }


# --- approvals ---------------------------------------------------------------------


def asking(answers: list[Approval], timeout_s: float | None = None) -> Any:
    """An agent that asks approval for one tool call and says what it got."""

    async def agent(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
        call = ToolCall("delete_file", {"path": "/tmp/x"}, id="c1")
        decision = await ctx.request_approval(call, timeout=timeout_s)
        answers.append(decision)
        if decision.approved:
            yield call
            yield ToolResult(call, "deleted")
        yield f"approved={decision.approved} reason={decision.reason}"

    return agent


async def waiting(run: RunRecord) -> None:
    await wait_until(lambda: "c1" in run.approvals)


async def test_a_run_pauses_until_its_requester_approves() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers))
    runs = manager(registry, published, approval_timeout=30)
    run = await start(runs, "asker", ALICE, client_id="tab-1")
    await waiting(run)
    (request,) = events(published, run, RunEvent.APPROVAL_REQUEST)
    assert {key: request[key] for key in ("tool_call_id", "name", "arguments", "timeout")} == {
        "tool_call_id": "c1",
        "name": "delete_file",
        "arguments": {"path": "/tmp/x"},
        "timeout": 30,
    }
    assert not run.task.done()  # type: ignore[union-attr]  # paused
    # Another client of the same user answers (identified users are one requester).
    assert runs.answer(run.execution_id, "c1", Approval(True), ALICE, "tab-2") is True
    assert runs.answer(run.execution_id, "c1", Approval(False), ALICE, "tab-2") is False  # once
    await finish(run)
    assert answers == [Approval(True)]
    assert kinds(published, run.channel)[1:4] == [
        "execution_approval_request",
        "execution_approval_result",
        "execution_tool",
    ]
    result = events(published, run, RunEvent.APPROVAL_RESULT)[0]
    assert (result["approved"], result["name"], "timed_out" in result) == (
        True,
        "delete_file",
        False,
    )


async def test_a_denial_reaches_the_agent_with_its_reason() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers))
    runs = manager(registry, published)
    run = await start(runs, "asker", ALICE)
    await waiting(run)
    runs.answer(run.execution_id, "c1", Approval(False, "not that file"), ALICE, None)
    await finish(run)
    assert answers == [Approval(False, "not that file")]
    assert events(published, run, RunEvent.APPROVAL_RESULT)[0]["reason"] == "not that file"
    assert RunEvent.TOOL.value not in kinds(published, run.channel)
    assert events(published, run, RunEvent.COMPLETE)[0]["output"].startswith("approved=False")


async def test_no_answer_in_time_is_a_denial() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers, timeout_s=0.05))
    runs = manager(registry, published)
    run = await start(runs, "asker")
    await finish(run)
    assert answers == [Approval(False, "no answer within 0.05s", timed_out=True)]
    result = events(published, run, RunEvent.APPROVAL_RESULT)[0]
    assert (result["approved"], result["timed_out"]) == (False, True)
    assert run.approvals == {}


async def test_the_configured_timeout_applies_when_the_agent_names_none() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers))
    run = await start(manager(registry, published, approval_timeout=0.05), "asker")
    await finish(run)
    assert answers[0].timed_out
    assert events(published, run, RunEvent.APPROVAL_REQUEST)[0]["timeout"] == 0.05


async def test_only_the_requester_or_an_approver_of_its_org_may_answer() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers))
    runs = manager(registry, published, approvers=["boss"])
    run = await start(runs, "asker", ALICE)
    await waiting(run)
    for intruder in (MALLORY, OTHER_BOSS, NOBODY):
        with pytest.raises(FrameError) as caught:
            runs.answer(run.execution_id, "c1", Approval(True), intruder, None)
        assert caught.value.code is ErrorCode.FORBIDDEN
    assert "c1" in run.approvals  # still waiting
    assert runs.answer(run.execution_id, "c1", Approval(True), ALICES_BOSS, None)
    await finish(run)
    assert answers == [Approval(True)]
    assert runs.answer("exec_unknown", "c1", Approval(True), MALLORY, None) is False


async def test_anonymous_requesters_are_told_apart_by_client_id() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers))
    runs = manager(registry, published)
    run = await start(runs, "asker", NOBODY, client_id="me")
    await waiting(run)
    with pytest.raises(FrameError):
        runs.answer(run.execution_id, "c1", Approval(True), NOBODY, "someone-else")
    assert runs.answer(run.execution_id, "c1", Approval(True), NOBODY, "me")
    await finish(run)


async def test_cancelling_a_waiting_run_ends_it_cancelled() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers))
    runs = manager(registry, published)
    run = await start(runs, "asker", ALICE)
    await waiting(run)
    assert runs.cancel(run.execution_id, ALICE)
    await finish(run)
    assert run.status == "cancelled"
    assert answers == []
    assert runs.answer(run.execution_id, "c1", Approval(True), ALICE, None) is False


async def test_a_thread_agent_asks_and_waits_without_blocking_the_loop() -> None:
    """A synchronous agent (praisonaiagents runs on a worker thread) asks through
    ``request_approval_blocking``; cancelling the run releases its thread."""
    answers: list[Approval] = []
    released: list[str] = []

    def blocking(text: str, ctx: AgentContext) -> Iterator[AgentEvent]:
        call = ToolCall("pay", {"amount": 5}, id="c1")
        try:
            answers.append(ctx.request_approval_blocking(call))
        except BaseException as exc:
            released.append(type(exc).__name__)
            raise
        yield "paid" if answers[-1].approved else "not paid"

    registry, published = AgentRegistry(), Published()
    registry.register("blocking", blocking)
    runs = manager(registry, published)
    run = await start(runs, "blocking", ALICE)
    await waiting(run)
    runs.answer(run.execution_id, "c1", Approval(True, "ok"), ALICE, None)
    await finish(run)
    assert answers == [Approval(True, "ok")]
    assert events(published, run, RunEvent.COMPLETE)[0]["output"] == "paid"

    cancelled = await start(runs, "blocking", ALICE)
    await waiting(cancelled)
    runs.cancel(cancelled.execution_id, ALICE)
    await finish(cancelled)
    assert cancelled.status == "cancelled"
    # The worker thread of the cancelled run got its CancelledError and returned.
    await wait_until(lambda: released == ["CancelledError"])


async def test_outside_a_gateway_nobody_can_approve() -> None:
    ctx = AgentContext("e", "a")
    call = ToolCall("x", {}, id="c")
    assert (await ctx.request_approval(call)).approved is False
    assert ctx.request_approval_blocking(call).reason == (
        "nobody can approve: the run is not served by a gateway"
    )


async def test_an_approval_timeout_must_be_positive() -> None:
    registry, published, answers = AgentRegistry(), Published(), []
    registry.register("asker", asking(answers, timeout_s=0))
    run = await start(manager(registry, published), "asker")
    await finish(run)
    (error,) = events(published, run, RunEvent.ERROR)
    assert "approval timeout must be > 0" in error["error"]["message"]
