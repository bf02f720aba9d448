"""One time unit and one way to wait for a condition, on a loop or on a thread."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

__all__ = ["SHORT", "UNIT", "WAIT", "timeout", "wait_until", "wait_until_threaded"]

#: The test time unit; CI scales it with ``PRAISON_PUSH_TEST_TIMEOUT_SCALE``.
UNIT = float(os.environ.get("PRAISON_PUSH_TEST_TIMEOUT_SCALE", "1"))
#: Ample time for something that should happen promptly.
WAIT = 5.0 * UNIT
#: A request timeout for tests that expect one to expire.
SHORT = 0.2 * UNIT
#: How often a condition is polled.
_POLL = 0.002


def timeout(seconds: float) -> float:
    """A wait bound of ``seconds``, scaled for slow machines."""
    return seconds * UNIT


def _describe(predicate: Callable[[], object], seconds: float, what: str | None) -> str:
    name = what or getattr(predicate, "__qualname__", repr(predicate))
    return f"condition {name} not met within {seconds:.2f}s"


async def wait_until(
    predicate: Callable[[], object], seconds: float = 5.0, *, what: str | None = None
) -> None:
    """Wait on the running loop until ``predicate()`` holds, or fail the test.

    ``seconds`` is scaled by :data:`UNIT`.
    """
    bound = timeout(seconds)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(_describe(predicate, bound, what))
        await asyncio.sleep(_POLL)


def wait_until_threaded(
    predicate: Callable[[], object], seconds: float = 5.0, *, what: str | None = None
) -> None:
    """Block this thread until ``predicate()`` holds, or fail the test (``seconds`` scaled)."""
    bound = timeout(seconds)
    deadline = time.monotonic() + bound
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(_describe(predicate, bound, what))
        time.sleep(_POLL)
