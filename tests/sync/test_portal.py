"""The portal: one loop thread, blocking calls into it, Ctrl-C, misuse from its thread."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Iterator

import pytest
from support import SHORT, WAIT, wait_until_threaded

from praison_push.sync.portal import Portal, get_portal


@pytest.fixture
def portal() -> Iterator[Portal]:
    portal = Portal(name="praison-push-test-portal")
    yield portal
    portal.stop()


def test_call_runs_on_the_portal_thread_and_returns(portal: Portal) -> None:
    async def where() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert portal.call(where()) == "praison-push-test-portal"
    assert portal.running
    assert "running" in repr(portal)


def test_call_propagates_exceptions(portal: Portal) -> None:
    async def fail() -> None:
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        portal.call(fail())

    async def own_timeout() -> None:
        raise asyncio.TimeoutError("mine")

    with pytest.raises(asyncio.TimeoutError, match="mine"):
        portal.call(own_timeout(), timeout=WAIT)


def test_call_timeout_cancels_the_coroutine(portal: Portal) -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(asyncio.TimeoutError, match="no result"):
        portal.call(forever(), timeout=SHORT / 4)
    assert cancelled.wait(WAIT)


def test_ctrl_c_while_blocked_cancels_the_coroutine_and_propagates(portal: Portal) -> None:
    assert threading.current_thread() is threading.main_thread()
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    main = threading.main_thread().ident or 0

    def blocked() -> bool:
        frame = sys._current_frames().get(main)
        return frame is not None and frame.f_code.co_name == "wait"

    def interrupt() -> None:
        started.wait(WAIT)
        wait_until_threaded(blocked)  # the main thread waits inside Future.result()
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        portal.call(forever())
    assert cancelled.wait(WAIT)


def test_call_from_the_portal_thread_raises_instead_of_deadlocking(portal: Portal) -> None:
    async def inner() -> int:
        return 1

    async def outer() -> str:
        with pytest.raises(RuntimeError, match="event-loop thread") as caught:
            portal.call(inner())  # the inner coroutine is closed, never "never awaited"
        return str(caught.value)

    assert "await" in portal.call(outer())


async def test_call_works_from_a_thread_running_an_event_loop(portal: Portal) -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert portal.call(answer()) == 42  # blocks this loop's thread only


def test_concurrent_first_use_starts_one_thread(portal: Portal) -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        loops.append(portal.loop)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(loops) == 8
    assert len({id(loop) for loop in loops}) == 1


def test_stop_cancels_tasks_and_a_later_call_restarts(portal: Portal) -> None:
    cancelled = threading.Event()

    async def background() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    portal.submit(background())
    first = portal.loop
    portal.stop()
    assert cancelled.is_set()
    assert not portal.running
    assert "stopped" in repr(portal)
    portal.stop()  # idempotent

    async def one() -> int:
        return 1

    assert portal.call(one()) == 1
    assert portal.loop is not first


def test_stop_from_the_portal_thread_is_refused(portal: Portal) -> None:
    async def stop_inside() -> None:
        portal.stop()

    with pytest.raises(RuntimeError, match="own thread"):
        portal.call(stop_inside())


def test_the_process_wide_portal_is_shared() -> None:
    assert get_portal() is get_portal()
