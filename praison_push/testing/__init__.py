"""Test helpers: an in-memory transport whose far end the test plays, and a local
OpenAI-compatible model (:class:`FakeModel`, served by :class:`FakeModelServer`).

Like httpx's ``MockTransport``, this is public so applications can test their
push handlers without a gateway::

    factory = MemoryTransportFactory(responder=ScriptedGateway())
    client = AsyncPushClient("memory://", transport_factory=factory)
    await client.connect()
    factory.last.feed({"type": "channel_message", "channel": "alerts", ...})

Frames cross the boundary as JSON text both ways, so what a test feeds is
decoded exactly as frames from a real gateway are, and what the client sends
must be JSON-serialisable, as on a real socket. :class:`ScriptedGateway`
answers requests with canned replies of the right shape; it is a test double
for one connection, not a gateway (no fan-out, history or delivery tracking).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from praison_push.client import ConnectionClosedError, NotConnectedError
from praison_push.protocol import PROTOCOL_VERSION, decode_object, encode_json

from .fake_model import FakeModel, ModelTurn, ScriptedToolCall
from .model_server import FakeModelServer

__all__ = [
    "FakeModel",
    "FakeModelServer",
    "MemoryTransport",
    "MemoryTransportFactory",
    "ModelTurn",
    "Responder",
    "ScriptedGateway",
    "ScriptedToolCall",
    "channel_message",
    "greeting",
]

#: Called with the transport and each frame the client sends, to script replies.
Responder = Callable[["MemoryTransport", dict[str, Any]], None]


def greeting(client_id: str, *, heartbeat_interval: float = 15, **extra: Any) -> dict[str, Any]:
    """The ``connected`` frame a praison_push gateway greets with (PROTOCOL.md §2)."""
    frame: dict[str, Any] = {
        "type": "connected",
        "client_id": client_id,
        "server_id": "memory",
        "protocol": PROTOCOL_VERSION,
        "heartbeat_interval": heartbeat_interval,
        "resumed": False,
    }
    frame.update(extra)
    return frame


def channel_message(
    channel: str,
    data: Any = None,
    *,
    event_id: str,
    offset: int | None = None,
    epoch: str | None = "memory-1",
    source: str | None = None,
    timestamp: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """A ``channel_message`` frame (PROTOCOL.md §2), as the gateway sends it."""
    frame: dict[str, Any] = {
        "type": "channel_message",
        "channel": channel,
        "data": data,
        "event_id": event_id,
        "timestamp": timestamp,
        "source": source,
    }
    if offset is not None:
        frame["offset"] = offset
        frame["epoch"] = epoch
    frame.update(extra)
    return frame


class _Closed:
    __slots__ = ("code", "reason")

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason


class MemoryTransport:
    """A :class:`~praison_push.client.PushTransportProtocol` connected to the test.

    Args:
        greeting: Fed to the client as soon as it connects (``None``: nothing).
        connect_error: Raised by ``connect()`` instead of connecting.
        responder: Called with each frame the client sends (after it is recorded).

    Attributes:
        sent: Every frame the client sent, decoded, in order.
    """

    def __init__(
        self,
        *,
        greeting: dict[str, Any] | None = None,
        connect_error: BaseException | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.greeting = greeting
        self.connect_error = connect_error
        self.responder = responder
        self.sent: list[dict[str, Any]] = []
        self._inbox: asyncio.Queue[str | _Closed] = asyncio.Queue()
        self._sent_changed = asyncio.Event()
        self._read = 0
        self._connected = False
        self._closed_with: _Closed | None = None

    def __repr__(self) -> str:
        return f"<MemoryTransport connected={self._connected} sent={len(self.sent)}>"

    # --- the client's side ---------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        if self.connect_error is not None:
            raise self.connect_error
        self._connected = True
        if self.greeting is not None:
            self.feed(self.greeting)

    async def disconnect(self) -> None:
        if self._connected:
            self.close(1000, "")

    async def send(self, data: dict[str, Any]) -> None:
        if self._closed_with is not None:
            raise ConnectionClosedError(self._closed_with.code, self._closed_with.reason)
        if not self._connected:
            raise NotConnectedError("the memory transport is not connected")
        frame = json.loads(encode_json(data))  # what a socket would carry
        self.sent.append(frame)
        self._sent_changed.set()
        if self.responder is not None:
            self.responder(self, frame)

    async def receive(self) -> dict[str, Any]:
        item = await self._inbox.get()
        if isinstance(item, _Closed):
            self._connected = False
            self._inbox.put_nowait(item)  # every later receive() sees the close too
            raise ConnectionClosedError(item.code, item.reason)
        return decode_object(item)

    # --- the test's side (the gateway) --------------------------------------

    def feed(self, frame: dict[str, Any] | str) -> None:
        """Deliver a frame to the client (a ``str`` is sent as raw text, e.g. garbage)."""
        self._inbox.put_nowait(frame if isinstance(frame, str) else encode_json(frame))

    def close(self, code: int | None = 1006, reason: str = "") -> None:
        """Close from the gateway's side (``None``: dropped without a close frame)."""
        if self._closed_with is None:
            self._connected = False
            self._closed_with = _Closed(code, reason)
            self._inbox.put_nowait(self._closed_with)

    async def next_sent(self, type: str | None = None, *, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame sent since the last call (of ``type``, skipping others).

        Raises:
            TimeoutError: None arrived within ``timeout`` seconds.
        """

        async def wait() -> dict[str, Any]:
            while True:
                while self._read < len(self.sent):
                    frame = self.sent[self._read]
                    self._read += 1
                    if type is None or frame.get("type") == type:
                        return frame
                self._sent_changed.clear()
                await self._sent_changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    def sent_of(self, type: str) -> list[dict[str, Any]]:
        """Every frame of ``type`` sent so far."""
        return [frame for frame in self.sent if frame.get("type") == type]


class MemoryTransportFactory:
    """A transport factory handing out :class:`MemoryTransport`\\ s and recording them.

    Args:
        greet: Builds the greeting for a client id (``None``: no greeting).
        responder: Given to every transport it builds.
        connect_errors: Raised by the next connection attempts, in order
            (``None`` entries connect normally).
    """

    def __init__(
        self,
        *,
        greet: Callable[[str], dict[str, Any]] | None = greeting,
        responder: Responder | None = None,
        connect_errors: list[BaseException | None] | None = None,
    ) -> None:
        self.greet = greet
        self.responder = responder
        self.connect_errors = list(connect_errors or [])
        self.transports: list[MemoryTransport] = []
        self.calls: list[tuple[str, str | None, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, url: str, auth_token: str | None, *, client_id: str) -> MemoryTransport:
        self.calls.append((url, auth_token, client_id))
        error = self.connect_errors.pop(0) if self.connect_errors else None
        transport = MemoryTransport(
            greeting=None if self.greet is None else self.greet(client_id),
            connect_error=error,
            responder=self.responder,
        )
        self.transports.append(transport)
        self._changed.set()
        return transport

    @property
    def last(self) -> MemoryTransport:
        """The most recent transport."""
        return self.transports[-1]

    async def wait_for_transport(self, index: int, *, timeout: float = 5.0) -> MemoryTransport:
        """The ``index``-th transport built (0-based), once the client asked for it."""

        async def wait() -> MemoryTransport:
            while len(self.transports) <= index:
                self._changed.clear()
                await self._changed.wait()
            return self.transports[index]

        return await asyncio.wait_for(wait(), timeout)


class ScriptedGateway:
    """A :data:`Responder` that answers every request with a canned reply of the right shape.

    Each request is answered at once (echoing its ``ref``), unless its type is
    in :attr:`hold` (never answered: for timeout tests) or :attr:`refuse`
    (answered with an ``error`` frame). A publish on a channel the same
    connection subscribed to is also delivered back to it.

    Args:
        epoch: The history epoch named in replies and delivered messages.

    Attributes:
        hold: Request types left unanswered.
        refuse: Request type → ``(code, message)`` of the ``error`` reply.
        offsets: Each channel's last offset.
        statuses: Each client's last ``presence.heartbeat`` status (by transport).
    """

    def __init__(self, *, epoch: str = "memory-1") -> None:
        self.epoch = epoch
        self.hold: set[str] = set()
        self.refuse: dict[str, tuple[str, str]] = {}
        self.offsets: dict[str, int] = {}
        self.statuses: dict[MemoryTransport, dict[str, Any]] = {}
        self._subscribed: dict[MemoryTransport, set[str]] = {}
        self._published = 0

    def __call__(self, transport: MemoryTransport, frame: dict[str, Any]) -> None:
        kind = str(frame.get("type"))
        if kind in self.hold or "ref" not in frame:
            return
        reply: dict[str, Any] = {"ref": frame["ref"]}
        if kind in self.refuse:
            code, message = self.refuse[kind]
            reply.update(type="error", code=code, message=message)
            transport.feed(reply)
            return
        channel = frame.get("channel")
        subscribed = self._subscribed.setdefault(transport, set())
        if kind == "channel.subscribe" and isinstance(channel, str):
            subscribed.add(channel)
            reply.update(
                type="channel.subscribed",
                channel=channel,
                ok=True,
                offset=self.offsets.get(channel, 0),
                epoch=self.epoch,
                recovered="since" in frame,
            )
        elif kind == "channel.unsubscribe":
            subscribed.discard(str(channel))
            reply.update(type="channel.unsubscribed", channel=channel, ok=True)
        elif kind == "channel.publish" and isinstance(channel, str):
            self._published += 1
            offset = self.offsets[channel] = self.offsets.get(channel, 0) + 1
            event_id = f"evt-{self._published}"
            reply.update(
                type="channel.published",
                channel=channel,
                delivered=1 if channel in subscribed else 0,
                event_id=event_id,
                offset=offset,
            )
            transport.feed(reply)
            if channel in subscribed:
                transport.feed(
                    channel_message(
                        channel,
                        frame.get("data"),
                        event_id=event_id,
                        offset=offset,
                        epoch=self.epoch,
                        source="memory",
                    )
                )
            return
        elif kind == "channel.create":
            reply.update(type="channel.created", channel=channel, ok=True)
        elif kind == "channel.list":
            reply.update(type="channel.list", channels=sorted(self.offsets))
        elif kind == "channel.history":
            reply.update(
                type="channel.history",
                channel=channel,
                messages=[],
                offset=self.offsets.get(str(channel), 0),
                epoch=self.epoch,
            )
        elif kind == "presence.heartbeat":
            self.statuses[transport] = {
                "status": frame.get("status", "online"),
                "metadata": frame.get("metadata") or {},
            }
            reply.update(type="presence.heartbeat_ack", ok=True)
        elif kind == "presence.query":
            presence = [
                {"client_id": f"client-{i}", "last_seen": 0.0, "channels": [], **status}
                for i, status in enumerate(self.statuses.values())
            ]
            reply.update(type="presence.list", channel=channel, presence=presence)
        elif kind in ("message_ack", "message_nack"):
            # Every delivery counts as tracked here: the client's acks are what is tested.
            answer = "ack_received" if kind == "message_ack" else "nack_received"
            reply.update(type=answer, event_id=frame.get("event_id"), ok=True)
        else:
            reply.update(type="error", code="unknown_type", message=f"unknown frame type {kind}")
        transport.feed(reply)
