"""Helpers of the client tests: clients to test, a task known to have started, taps.

Time units, waits and recorders come from the ``support`` package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from support import WAIT

from praison_push.client import (
    AsyncPushClient,
    Backoff,
    ConnectionClosedError,
    PushTransportProtocol,
    WebSocketTransport,
)
from praison_push.testing import MemoryTransportFactory

T = TypeVar("T")

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


async def started(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coro`` as a task and return once it has run up to its first suspension.

    What a call does before it first waits (``wait_for`` registering its
    waiter, an iterator taking its cursor) has then happened: the test can go
    on without counting loop turns.
    """
    began = asyncio.Event()

    async def run() -> T:
        began.set()
        return await coro  # runs inline up to coro's first suspension, in this same step

    task = asyncio.ensure_future(run())
    await began.wait()
    return task


class Tap:
    """A transport around another one: records the frames both ways, and can cut the line.

    ``cut()`` makes the connection fail as a network drop does — ``receive()``
    raises :class:`ConnectionClosedError` with no close code — so the client
    reconnects as it would after a real drop.
    """

    def __init__(self, inner: PushTransportProtocol) -> None:
        self.inner = inner
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self._cut = False
        self._closing: asyncio.Future[None] | None = None

    @property
    def is_connected(self) -> bool:
        return self.inner.is_connected and not self._cut

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def send(self, data: dict[str, Any]) -> None:
        self.sent.append(data)
        await self.inner.send(data)

    async def receive(self) -> dict[str, Any]:
        try:
            frame = await self.inner.receive()
        except ConnectionClosedError:
            if self._cut:
                raise ConnectionClosedError(None, "cut by the test") from None
            raise
        if self._cut:
            raise ConnectionClosedError(None, "cut by the test")
        self.received.append(frame)
        return frame

    def cut(self) -> None:
        """Drop the connection (the client sees no close code)."""
        self._cut = True
        self._closing = asyncio.ensure_future(self.inner.disconnect())

    def sent_of(self, kind: str) -> list[dict[str, Any]]:
        """Every frame of type ``kind`` the client sent through this transport."""
        return [frame for frame in self.sent if frame.get("type") == kind]


class Taps:
    """A transport factory wrapping each :class:`WebSocketTransport` it builds in a :class:`Tap`."""

    def __init__(self) -> None:
        self.taps: list[Tap] = []

    def __call__(self, url: str, auth_token: str | None, *, client_id: str) -> Tap:
        self.taps.append(Tap(WebSocketTransport(url, auth_token, client_id=client_id)))
        return self.taps[-1]

    @property
    def last(self) -> Tap:
        return self.taps[-1]
