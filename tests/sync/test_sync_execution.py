"""Agent runs from blocking code: ``PushClient.execute`` against a real gateway."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import AsyncIterator

import pytest
from support import WAIT, Recorder, wait_until_threaded

from praison_push.client import Execution, ExecutionEvent, ExecutionFailed, RequestRefused
from praison_push.server import GatewayThread
from praison_push.sync import PushClient, SyncExecution

from .helpers import Connect

WEATHER_ANSWER = "The weather in Paris is currently 18°C and partly cloudy."


def test_execute_streams_events_and_returns_the_answer(connect: Connect) -> None:
    client = connect()
    run = client.execute("demo-weather", "Weather in Paris?", session_id="s")
    assert isinstance(run, SyncExecution) and isinstance(run.async_execution, Execution)
    events = list(run)
    assert events[0].kind == "execution_start" and events[-1].kind == "execution_complete"
    assert all(isinstance(event, ExecutionEvent) for event in events)
    assert run.result(timeout=WAIT) == WEATHER_ANSWER
    assert run.wait() is run
    assert (run.status, run.done, run.agent_id, run.output) == (
        "completed",
        True,
        "demo-weather",
        WEATHER_ANSWER,
    )
    assert run.execution_id.startswith("exec_") and run.channel.endswith(run.execution_id)
    assert "".join(run.tokens) == WEATHER_ANSWER and run.token_count == 10
    assert run.events == events
    (call,) = run.tool_calls
    assert (call["name"], call["status"], call["result"]["temperature"]) == (
        "get_weather",
        "completed",
        18,
    )
    assert run.usage is not None and run.usage["total_tokens"] > 0
    assert isinstance(run.latency_ms, int) and run.error is None and not run.gap
    # Snapshots: changing them changes nothing in the handle.
    run.tokens.clear()
    run.tool_calls[0]["status"] = "edited"
    assert run.token_count == 10 and run.tool_calls[0]["status"] == "completed"
    assert repr(run) == str(run) == run.transcript()
    assert repr(run).startswith("✓ demo-weather completed · 10 tokens · 1 tool call · ")
    assert "get_weather" in run._repr_html_() and "get_weather" in run._repr_markdown_()


def test_two_loops_each_see_the_whole_run(connect: Connect) -> None:
    run = connect().execute("echo", "a b c")
    first, second = iter(run), iter(run)
    assert "SyncExecutionIterator" in repr(first) and iter(first) is first
    assert [e.kind for e in first] == [e.kind for e in second]
    assert run.output == "a b c"


def test_failures_and_refusals(connect: Connect, gateway: GatewayThread) -> None:
    assert gateway.gateway is not None

    async def broken(text: str) -> AsyncIterator[str]:
        raise RuntimeError("no model")
        yield ""  # pragma: no cover - makes this an async generator

    gateway.gateway.hub.agents.register("broken", broken)
    client = connect()
    run = client.execute("broken", "x")
    with pytest.raises(ExecutionFailed) as caught:
        run.result(timeout=WAIT)
    assert (caught.value.code, caught.value.message) == ("AGENT_FAILED", "no model")
    assert run.status == "failed" and run.error == {"code": "AGENT_FAILED", "message": "no model"}
    with pytest.raises(RequestRefused) as refused:
        client.execute("nobody", "x")
    assert refused.value.code == "unknown_agent"


def test_cancel_and_attach_from_another_client(connect: Connect) -> None:
    runner, watcher = connect(), connect()
    run = runner.execute("demo-long", "1000@200")
    first = next(iter(run))
    assert first.kind == "execution_start"
    watched = watcher.attach(run.execution_id)
    assert run.cancel() is True
    assert run.status == "cancelled"
    with pytest.raises(ExecutionFailed):
        watched.result(timeout=WAIT)
    assert watched.status == "cancelled" and watched.agent_id == "demo-long"
    assert run.cancel() is False


def test_callbacks_run_on_the_callback_thread(connect: Connect) -> None:
    client = connect()
    run = client.execute("demo-weather", "Weather in Paris?")
    seen = Recorder()
    assert run.subscribe(seen) is seen
    run.subscribe(seen)  # once only
    run.result(timeout=WAIT)
    calls = seen.wait_threaded(len(run.events))
    assert [e.kind for e in calls] == [e.kind for e in run.events]
    assert all(name.startswith("praison-push-callbacks") for name in seen.threads)
    wait_until_threaded(lambda: run.on_event == ())  # fed to the end, then let go
    assert run.unsubscribe(seen) is False
    assert run.unsubscribe(print) is False


def test_unsubscribed_callback_stops(connect: Connect) -> None:
    run = connect().execute("demo-long", "40@200")
    seen = Recorder()
    run.subscribe(seen)
    seen.wait_threaded(3)
    assert run.unsubscribe(seen) is True
    run.result(timeout=WAIT)
    assert len(seen.calls) < len(run.events)


def test_a_client_subclass_chooses_the_handle(connect: Connect) -> None:
    class Shown(SyncExecution):
        def show(self) -> str:
            return f"showing {self.execution_id}"

    class NotebookishClient(PushClient):
        execution_class = Shown

    run = connect(NotebookishClient).execute("echo", "hi")
    assert isinstance(run, Shown) and run.show().startswith("showing exec_")
    assert run.result(timeout=WAIT) == "hi"


def test_ctrl_c_cancels_the_wait_not_the_run(connect: Connect) -> None:
    assert threading.current_thread() is threading.main_thread(), "pytest runs tests on main"
    run = connect().execute("demo-long", "60@200")
    next(iter(run))
    main = threading.main_thread().ident
    assert main is not None

    def blocked() -> bool:
        frame = sys._current_frames().get(main)
        return frame is not None and frame.f_code.co_name == "wait"

    waiting = threading.Event()

    def interrupt() -> None:
        waiting.wait(WAIT)
        wait_until_threaded(blocked)  # the main thread waits inside Future.result()
        signal.pthread_kill(main, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt, daemon=True)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            waiting.set()  # nothing else waits between here and result()
            run.result(timeout=WAIT)
    finally:
        interrupter.join(WAIT)
    assert run.status == "running"
    assert run.result(timeout=WAIT) == "".join(f"t{i} " for i in range(60))
    wait_until_threaded(lambda: run.done)
