"""``RunManager`` on its own: a registry, a recording publish, a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import FakeClock, Recorder, timeout

from praison_push.agents import AgentContext, AgentEvent, AgentRegistry, ToolCall, ToolResult, Usage
from praison_push.hub import Principal, RunManager, RunRecord
from praison_push.hub.conversations import Conversations
from praison_push.hub.run_manager import MAX_INPUT_CHARS
from praison_push.protocol import ErrorCode, FrameError
from praison_push.protocol.runs import RUN_FEED

ALICE = Principal(user_id="alice", org_id="acme")
BOB = Principal(user_id="bob", org_id="globex")
NOBODY = Principal()


class Published(Recorder):
    """The hub's publish, recorded: each call of :meth:`publish` records ``(channel, data)``."""

    async def publish(self, channel: str, data: dict[str, Any]) -> None:
        self(channel, data)

    def on(self, channel: str) -> list[dict[str, Any]]:
        return [data for name, data in self.calls if name == channel]


Setup = tuple[RunManager, AgentRegistry, Published, FakeClock]


def manager_of(registry: AgentRegistry, published: Published, **options: Any) -> RunManager:
    return RunManager(registry, published.publish, **options)


@pytest.fixture
def setup() -> Setup:
    registry = AgentRegistry()
    published = Published()
    clock = FakeClock(100.0)
    return manager_of(registry, published, monotonic=clock), registry, published, clock


async def finish(run: RunRecord) -> None:
    assert run.task is not None
    await asyncio.wait_for(run.task, timeout(3))


async def go(manager: RunManager, agent: str, text: str, **kw: Any) -> RunRecord:
    run = manager.prepare(agent, text, principal=kw.pop("principal", NOBODY), **kw)
    manager.start(run)
    await finish(run)
    return run


def test_run_channel_and_feed() -> None:
    run = RunRecord("exec_1", "a", "hi", ALICE, None, None, AgentContext("exec_1", "a"), 0.0)
    assert run.channel == "executions:exec_1#acme"  # scoped by name, like the feed
    assert run.feed == "executions#acme"
    anonymous = RunRecord("e", "a", "hi", NOBODY, None, None, AgentContext("e", "a"), 0.0)
    assert anonymous.channel == "executions:e"
    assert anonymous.feed == RUN_FEED


def test_prepare_refuses_unknown_agents_and_bad_input(setup: Setup) -> None:
    manager, registry, _, _ = setup
    with pytest.raises(FrameError) as caught:
        manager.prepare("ghost", "hi", principal=NOBODY)
    assert caught.value.code is ErrorCode.UNKNOWN_AGENT
    assert caught.value.field == "agent_id"
    assert "(known: none)" in caught.value.message

    registry.register("echo", lambda text: text)
    registry.register("other", lambda text: text)
    with pytest.raises(FrameError) as caught:
        manager.prepare("ghost", "hi", principal=NOBODY)
    assert "(known: echo, other)" in caught.value.message

    for empty in ("", " \n\t"):
        with pytest.raises(FrameError) as caught:
            manager.prepare("echo", empty, principal=NOBODY)
        assert caught.value.code is ErrorCode.INVALID_FIELD
        assert caught.value.field == "input"

    with pytest.raises(FrameError) as caught:
        manager.prepare("echo", "x" * (MAX_INPUT_CHARS + 1), principal=NOBODY)
    assert caught.value.field == "input"
    assert caught.value.details["max_length"] == MAX_INPUT_CHARS
    manager.prepare("echo", "x" * MAX_INPUT_CHARS, principal=NOBODY)  # the limit itself is fine
    assert len(manager.records()) == 1 and len(manager) == 1  # prepared runs count as running


def test_prepare_builds_the_agents_context(setup: Setup) -> None:
    manager, registry, _, clock = setup
    registry.register("echo", lambda text: text)
    run = manager.prepare("echo", "hi", principal=ALICE, client_id="c1", conversation_id="s1")
    assert run.execution_id.startswith("exec_") and len(run.execution_id) == 21
    assert manager.get(run.execution_id) is run
    assert (run.agent_id, run.input, run.client_id, run.conversation_id) == (
        "echo",
        "hi",
        "c1",
        "s1",
    )
    assert run.started == clock.now
    assert run.status == "running" and run.task is None
    ctx = run.context
    assert (ctx.execution_id, ctx.agent_id) == (run.execution_id, "echo")
    assert (ctx.session_id, ctx.user_id, ctx.org_id) == ("s1", "alice", "acme")
    assert ctx.history == []


async def test_a_run_publishes_on_its_channel_and_its_orgs_feed(setup: Setup) -> None:
    manager, registry, published, clock = setup

    async def agent(text: str) -> AsyncIterator[AgentEvent]:
        yield "Hello"
        yield ""  # empty tokens are not events
        yield ", world"
        clock.advance(0.25)
        yield Usage(prompt_tokens=7, completion_tokens=3)

    registry.register("hello", agent)
    run = await go(manager, "hello", "hi there", principal=ALICE)

    assert run.status == "completed"
    assert run.output == ["Hello", ", world"]
    channel_events = published.on(run.channel)
    assert published.on("executions#acme") == channel_events
    assert {name for name, _ in published.calls} == {run.channel, "executions#acme"}
    base = {"execution_id": run.execution_id, "agent_id": "hello", "user_id": "alice"}
    assert channel_events == [
        {"event": "execution_start", **base, "status": "running"},
        {"event": "execution_token", **base, "token": "Hello", "index": 0},
        {"event": "execution_token", **base, "token": ", world", "index": 1},
        {
            "event": "execution_complete",
            **base,
            "status": "completed",
            "output": "Hello, world",
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
            "latency_ms": 250,
        },
    ]
    assert len(manager) == 0


async def test_usage_defaults_and_odd_items(setup: Setup) -> None:
    manager, registry, published, _ = setup

    async def agent(text: str) -> AsyncIterator[Any]:
        yield ToolCall("clock", id="t1")  # no arguments: none are sent
        yield ToolResult(ToolCall("clock", id="t1"), result="noon")
        yield 42  # anything else is sent as its text

    registry.register("odd", agent)
    run = await go(manager, "odd", "three word input")
    events = published.on(run.channel)
    assert "user_id" not in events[0]  # an anonymous run names no user
    assert events[1]["tool_call"] == {"id": "t1", "name": "clock", "status": "calling"}
    assert events[2]["tool_call"] == {
        "id": "t1",
        "name": "clock",
        "status": "completed",
        "result": "noon",
    }
    assert events[3]["token"] == "42"
    assert events[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert published.on(RUN_FEED) == events  # no org: the shared feed


async def test_failures(setup: Setup) -> None:
    manager, registry, published, _ = setup

    class Detailed(Exception):
        def __init__(self, message: str) -> None:
            super().__init__(message)
            self.details = {"retry_after": 60}

    async def raises(text: str) -> AsyncIterator[AgentEvent]:
        if text == "bare":
            raise KeyError
        if text == "detailed":
            raise Detailed("rate limited upstream")
        yield "x"

    registry.register("raises", raises)
    bare = await go(manager, "raises", "bare")
    assert bare.status == "failed"
    assert published.on(bare.channel)[-1]["error"] == {
        "code": "AGENT_FAILED",
        "message": "KeyError",
    }
    detailed = await go(manager, "raises", "detailed")
    assert published.on(detailed.channel)[-1]["error"] == {
        "code": "AGENT_FAILED",
        "message": "rate limited upstream",
        "details": {"retry_after": 60},
    }

    async def tool_fails(text: str) -> AsyncIterator[AgentEvent]:
        call = ToolCall("search", {"q": text}, id="t9")
        yield call
        yield ToolResult(call, error="down")

    registry.register("tool", tool_fails)
    run = await go(manager, "tool", "q")
    events = published.on(run.channel)
    assert events[2]["tool_call"] == {
        "id": "t9",
        "name": "search",
        "status": "failed",
        "error": "down",
    }
    # A failed tool is an event of the run; the run ends as the agent does.
    assert events[3]["event"] == "execution_complete" and run.status == "completed"

    async def tool_fails_then_gives_up(text: str) -> AsyncIterator[AgentEvent]:
        call = ToolCall("search", {"q": text}, id="t9")
        yield call
        yield ToolResult(call, error="down")
        raise LookupError("nothing to go on")

    registry.register("gives-up", tool_fails_then_gives_up)
    run = await go(manager, "gives-up", "q")
    assert published.on(run.channel)[3] == {
        "event": "execution_error",
        "execution_id": run.execution_id,
        "agent_id": "gives-up",
        "status": "failed",
        "error": {
            "code": "TOOL_EXECUTION_FAILED",
            "message": "tool 'search' failed: down; the agent gave up: nothing to go on",
            "details": {"tool_name": "search", "tool_call_id": "t9"},
        },
    }
    assert run.status == "failed"

    async def recovers(text: str) -> AsyncIterator[AgentEvent]:
        failed = ToolCall("search", {"q": text}, id="a")
        yield failed
        yield ToolResult(failed, error="down")
        retried = ToolCall("search", {"q": text}, id="b")
        yield retried
        yield ToolResult(retried, "found it")
        raise ValueError("then something else broke")

    registry.register("recovers", recovers)
    run = await go(manager, "recovers", "q")
    assert published.on(run.channel)[-1]["error"]["code"] == "AGENT_FAILED"


async def test_an_agent_removed_before_its_run_starts(setup: Setup) -> None:
    manager, registry, published, _ = setup
    registry.register("brief", lambda text: text)
    run = manager.prepare("brief", "hi", principal=NOBODY)
    registry.unregister("brief")
    manager.start(run)
    await finish(run)
    assert run.status == "failed"
    error = published.on(run.channel)[-1]["error"]
    assert error == {"code": "AGENT_FAILED", "message": "agent 'brief' was removed"}


async def test_cancel(setup: Setup) -> None:
    manager, registry, published, _ = setup
    started = asyncio.Event()

    async def slow(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
        yield "first "
        started.set()
        await asyncio.Event().wait()  # until cancelled
        yield "never"

    registry.register("slow", slow)
    assert manager.cancel("exec_unknown", ALICE) is False

    run = manager.prepare("slow", "go", principal=ALICE)
    manager.start(run)
    await asyncio.wait_for(started.wait(), timeout(3))
    assert manager.cancel(run.execution_id, BOB) is False  # another org may not
    assert manager.cancel(run.execution_id, ALICE) is True
    await finish(run)
    assert run.status == "cancelled"
    assert run.context.cancelled
    assert published.on(run.channel)[-1] == {
        "event": "execution_error",
        "execution_id": run.execution_id,
        "agent_id": "slow",
        "user_id": "alice",
        "status": "cancelled",
        "error": {"code": "CANCELLED", "message": "cancelled"},
    }
    assert manager.cancel(run.execution_id, ALICE) is False  # finished

    # Prepared but never started: the context is told, there is no task to stop.
    idle = manager.prepare("slow", "go", principal=NOBODY)
    assert manager.cancel(idle.execution_id, NOBODY) is True
    assert idle.context.cancelled and idle.task is None


def test_only_the_runs_requester_may_cancel_it(setup: Setup) -> None:
    manager, registry, _, _ = setup
    registry.register("echo", lambda text: text)
    acme = manager.prepare("echo", "hi", principal=ALICE)
    assert not manager.cancel(acme.execution_id, BOB)
    assert not manager.cancel(acme.execution_id, NOBODY)
    colleague = Principal(user_id="carol", org_id="acme")
    assert not manager.cancel(acme.execution_id, colleague)  # same org, another user
    assert not manager.cancel("exec_elsewhere", ALICE)
    anonymous = manager.prepare("echo", "hi", principal=NOBODY, client_id="me")
    assert not manager.cancel(anonymous.execution_id, NOBODY, "someone-else")
    assert manager.cancel(anonymous.execution_id, NOBODY, "me")
    assert manager.cancel(acme.execution_id, ALICE)


async def test_identified_users_do_not_share_conversations(setup: Setup) -> None:
    manager, registry, _, _ = setup
    registry.register("echo", lambda text: text)
    await go(manager, "echo", "alice's secret", conversation_id="s", principal=ALICE)
    assert len(manager.conversations.history("s", ALICE)) == 2
    assert manager.conversations.history("s", BOB) == []
    assert manager.conversations.history("s") == []  # nor anonymous callers


async def test_close_cancels_running_runs(setup: Setup) -> None:
    manager, registry, published, _ = setup
    await manager.close()  # nothing running: nothing to do
    started = asyncio.Event()

    async def forever(text: str) -> AsyncIterator[AgentEvent]:
        started.set()
        await asyncio.Event().wait()  # until cancelled
        yield "never"

    registry.register("forever", forever)
    run = manager.prepare("forever", "x", principal=NOBODY)
    manager.start(run)
    await asyncio.wait_for(started.wait(), timeout(3))
    await asyncio.wait_for(manager.close(), timeout(3))
    assert run.status == "cancelled"
    assert published.on(run.channel)[-1]["status"] == "cancelled"


async def test_conversations_keep_the_last_hundred_turns(setup: Setup) -> None:
    manager, registry, _, _ = setup
    seen: list[list[dict[str, Any]]] = []

    def remember(text: str, ctx: AgentContext) -> str:
        seen.append(ctx.history)
        return f"re: {text}"

    registry.register("remember", remember)
    await go(manager, "remember", "one", conversation_id="s")
    await go(manager, "remember", "two", conversation_id="s")
    assert seen[1] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "re: one"},
    ]
    history = manager.conversations.history("s")
    assert len(history) == 4
    history.clear()  # a copy: the manager's record is untouched
    assert len(manager.conversations.history("s")) == 4
    assert manager.conversations.history("unknown") == []

    await go(manager, "remember", "no conversation")  # runs outside a conversation keep nothing
    for index in range(50):
        await go(manager, "remember", f"turn {index}", conversation_id="s")
    kept = manager.conversations.history("s")
    assert len(kept) == 100
    assert kept[0] == {"role": "user", "content": "turn 0"}
    assert kept[-1] == {"role": "assistant", "content": "re: turn 49"}


async def test_finished_runs_are_forgotten_beyond_keep_finished() -> None:
    registry = AgentRegistry()
    registry.register("echo", lambda text: text)
    manager = manager_of(registry, Published(), keep_finished=2)
    runs = [await go(manager, "echo", f"run {index}") for index in range(3)]
    assert manager.records() == [runs[1], runs[2]]
    # A forgotten run is "unknown": cancelling it is refused, not an error.
    assert manager.cancel(runs[0].execution_id, NOBODY) is False


async def test_a_burst_of_tokens_is_sent_in_fewer_events() -> None:
    """Tokens faster than ``token_interval`` go out together; nothing is lost or reordered."""
    registry = AgentRegistry()

    async def burst(text: str) -> AsyncIterator[AgentEvent]:
        for index in range(100):
            yield f"w{index} "

    registry.register("burst", burst)
    published = Published()
    manager = manager_of(registry, published, token_interval=0.05)
    run = await go(manager, "burst", "go")
    tokens = [data for data in published.on(run.channel) if data["event"] == "execution_token"]
    assert [token["index"] for token in tokens] == list(range(len(tokens)))
    assert "".join(token["token"] for token in tokens) == "".join(f"w{i} " for i in range(100))
    assert sum(token.get("count", 1) for token in tokens) == 100
    assert len(tokens) < 100
    assert published.on(run.channel)[-1]["output"] == "".join(run.output)


async def test_conversations_are_bounded_least_recently_used_first() -> None:
    registry = AgentRegistry()
    registry.register("echo", lambda text: text)
    conversations = Conversations(max_conversations=2)
    manager = manager_of(registry, Published(), conversations=conversations)
    await go(manager, "echo", "a", conversation_id="s1")
    await go(manager, "echo", "b", conversation_id="s2")
    await go(manager, "echo", "c", conversation_id="s1")  # s1 is now the most recent
    await go(manager, "echo", "d", conversation_id="s3")  # evicts s2
    assert len(conversations) == 2
    assert manager.conversations.history("s2") == []
    assert len(manager.conversations.history("s1")) == 4
    assert len(manager.conversations.history("s3")) == 2
