"""Helpers for blocking-face tests: scaled waits, thread-safe recorders, portal access."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from praison_push.sync import PushClient
from praison_push.sync.portal import get_portal

T = TypeVar("T")

#: ``connect(cls=PushClient, **options)`` (the fixture): a new client of the real gateway,
#: connected.
Connect = Callable[..., PushClient]

UNIT = float(os.environ.get("PRAISON_PUSH_TEST_TIMEOUT_SCALE", "1"))
WAIT = 5.0 * UNIT
SHORT = 0.2 * UNIT


def on_portal(fn: Callable[[], T]) -> T:
    """Run ``fn`` on the portal loop (where in-memory transports live) and return its result."""

    async def run() -> T:
        return fn()

    return get_portal().call(run(), WAIT)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Block until ``predicate()`` holds (polling briefly), or fail the test."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


class ThreadRecorder:
    """A callback that records its arguments and the thread it ran on."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.threads: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, argument: Any) -> None:
        with self._changed:
            self.calls.append(argument)
            self.threads.append(threading.current_thread().name)
            self._changed.notify_all()

    def wait(self, count: int = 1, timeout: float = WAIT) -> list[Any]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.calls) >= count, timeout), self.calls
            return list(self.calls)
