"""One background event-loop thread that every blocking client runs on.

The blocking face must work the same in a script, the REPL, IPython and
Jupyter — where the calling thread may already run an event loop, so
``asyncio.run`` and ``loop.run_until_complete`` are not available and
nest-asyncio is out of the question (it patches asyncio globally). Instead each call ships
its coroutine to this loop with :func:`asyncio.run_coroutine_threadsafe` and
blocks only the calling thread until the result is back — Starlette's
``TestClient`` does the same. One process-wide loop (not one per client) keeps
a notebook with many clients at one extra thread.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = ["Portal", "get_portal"]

logger = logging.getLogger("praison_push.sync")

T = TypeVar("T")
P = ParamSpec("P")


class Portal:
    """An event loop on a daemon thread, started on first use, plus blocking calls into it."""

    def __init__(self, name: str = "praison-push-portal") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Portal {self._name} {'running' if self.running else 'stopped'}>"

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The portal's loop, starting its thread if needed (thread-safe)."""
        loop = self._loop
        if loop is not None and self.running:
            return loop
        with self._lock:
            if self._loop is None or not self.running:
                self._start()
            assert self._loop is not None
            return self._loop

    def in_portal_thread(self) -> bool:
        """Whether the caller runs on the portal's own loop thread."""
        return self._thread is not None and threading.get_ident() == self._thread.ident

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the portal loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the portal loop and block the calling thread for its result.

        Args:
            coro: What to run.
            timeout: Give up (and cancel ``coro``) after this many seconds.

        Raises:
            RuntimeError: Called from the portal thread itself, where blocking
                would deadlock (use the async client there).
            TimeoutError: ``timeout`` passed; ``coro`` was cancelled.
            KeyboardInterrupt: Ctrl-C while blocked; ``coro`` was cancelled.
        """
        if self.in_portal_thread():
            coro.close()
            raise RuntimeError(
                "a blocking praison_push call was made on the client's own event-loop "
                "thread (from an async handler?); await the AsyncPushClient method there"
            )
        future: concurrent.futures.Future[T] | None = None
        try:
            future = self.submit(coro)
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            assert future is not None
            if future.done():
                raise  # the coroutine's own TimeoutError
            future.cancel()
            raise asyncio.TimeoutError(f"no result within {timeout}s") from None
        except KeyboardInterrupt:
            if future is not None:
                future.cancel()
            raise

    def run_sync(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call plain function ``fn`` on the portal loop's thread and block for its result.

        The async client's state (handler registries, run handles, in-memory
        transports) belongs to that thread; a blocking call that only touches
        it, without awaiting anything, goes through here.

        Raises:
            RuntimeError: Called from the portal thread itself (see :meth:`call`).
        """

        async def on_loop() -> T:
            return fn(*args, **kwargs)

        return self.call(on_loop())

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel what still runs on the loop, stop it and join its thread (at exit, in tests)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return
        if threading.get_ident() == thread.ident:
            raise RuntimeError("the portal cannot be stopped from its own thread")
        try:
            asyncio.run_coroutine_threadsafe(_cancel_tasks(), loop).result(timeout)
        except (concurrent.futures.TimeoutError, RuntimeError) as exc:
            logger.debug("portal tasks did not finish on stop: %r", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=_run, args=(loop, ready), name=self._name, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread = loop, thread


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


async def _cancel_tasks() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_portal = Portal()
atexit.register(_portal.stop)


def get_portal() -> Portal:
    """The process-wide portal every blocking client shares."""
    return _portal
