"""A callback that records what it was called with, awaitable from a loop or a thread."""

from __future__ import annotations

import threading
from typing import Any

from .timing import wait_until, wait_until_threaded

__all__ = ["Recorder"]


class Recorder:
    """Records each call's argument (all of them, as a tuple, when there are several)
    and the thread it ran on; thread-safe.

    ``await recorder.wait(n)`` on a loop, ``recorder.wait_threaded(n)`` on a thread:
    both return the calls once at least ``n`` were recorded, or fail the test.
    With ``returns``, each call returns that value (a handler whose result counts).
    """

    def __init__(self, returns: Any = None) -> None:
        self.calls: list[Any] = []
        self.threads: list[str] = []
        self.returns = returns
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            self.calls.append(args[0] if len(args) == 1 else args)
            self.threads.append(threading.current_thread().name)
        return self.returns

    def __len__(self) -> int:
        return len(self.calls)

    async def wait(self, count: int = 1, seconds: float = 5.0) -> list[Any]:
        """Wait on the running loop until ``count`` calls were recorded; return them all."""
        await wait_until(lambda: len(self.calls) >= count, seconds, what=f"{count} calls")
        return list(self.calls)

    def wait_threaded(self, count: int = 1, seconds: float = 5.0) -> list[Any]:
        """Block until ``count`` calls were recorded; return them all."""
        wait_until_threaded(lambda: len(self.calls) >= count, seconds, what=f"{count} calls")
        return list(self.calls)
