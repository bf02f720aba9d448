"""A per-client thread that runs blocking callbacks in order.

Callbacks registered through the blocking face are plain functions that may
block (``time.sleep``, a ``requests`` call, a model invocation) or call the
blocking client again. Run on the shared portal loop they would stall every
client; run here, one at a time and in arrival order, they stall only their
own client's handler queue — which is what ordering requires anyway.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["CallbackWorker"]

logger = logging.getLogger("praison_push.sync")

_Job = tuple[Callable[[Any], Any], Any, "concurrent.futures.Future[Any]"]


class CallbackWorker:
    """A daemon thread (started on first use) that runs submitted calls one at a time."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<CallbackWorker {self._name} {'running' if alive else 'idle'}>"

    def in_worker(self) -> bool:
        """Whether the caller runs inside one of this worker's callbacks."""
        return self._thread is not None and threading.get_ident() == self._thread.ident

    def submit(self, fn: Callable[[Any], Any], argument: Any) -> concurrent.futures.Future[Any]:
        """Queue ``fn(argument)``; the future holds its result or exception."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._jobs = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run, args=(self._jobs,), name=self._name, daemon=True
                )
                self._thread.start()
            self._jobs.put((fn, argument, future))
        return future

    def stop(self) -> None:
        """Let the thread finish what is queued, then end (returns at once)."""
        with self._lock:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread = None

    @staticmethod
    def _run(jobs: queue.SimpleQueue[_Job | None]) -> None:
        while (job := jobs.get()) is not None:
            fn, argument, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(argument)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
