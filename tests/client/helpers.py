"""Small helpers for client tests: scaled waits, handler recorders, clients to test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from praison_push.client import AsyncPushClient, Backoff
from praison_push.testing import MemoryTransportFactory

#: The test time unit; CI scales it with PRAISON_PUSH_TEST_TIMEOUT_SCALE.
UNIT = float(os.environ.get("PRAISON_PUSH_TEST_TIMEOUT_SCALE", "1"))
#: Ample time for something that should happen promptly.
WAIT = 5.0 * UNIT
#: A request timeout for tests that expect one to expire.
SHORT = 0.2 * UNIT
#: Reconnect at once (tests wait on events, not on the schedule).
FAST_BACKOFF = Backoff(initial=0.001, maximum=0.005, jitter=0.0)
#: ``connect(**options)`` (the fixture): a new client of the real gateway, connected.
Connect = Callable[..., Any]
#: The gateway URL the in-memory transports pretend to reach.
URL = "ws://gateway.test/ws"


def make_client(
    factory: MemoryTransportFactory, *, url: str = URL, **options: Any
) -> AsyncPushClient:
    """An unconnected client over ``factory``.

    Its request timeout is ``WAIT`` and its backoff ``FAST_BACKOFF``, unless ``options``
    say otherwise.
    """
    options.setdefault("request_timeout", WAIT)
    options.setdefault("backoff", FAST_BACKOFF)
    return AsyncPushClient(url, transport_factory=factory, **options)


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until ``predicate()`` holds (polling briefly), or fail the test."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout)


class Recorder:
    """A handler that records its arguments and lets a test wait for the n-th call."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, argument: Any) -> None:
        self.calls.append(argument)
        self._changed.set()

    async def wait(self, count: int = 1, timeout: float = WAIT) -> list[Any]:
        """Wait until at least ``count`` calls were recorded; return them all."""

        async def until() -> None:
            while len(self.calls) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.calls
