"""One client connection as the hub sees it, whatever the transport.

A transport adapter moves text frames: it feeds received text to the hub and
either drains :meth:`Connection.drain` into its socket, or attaches a
:class:`FrameSink` that takes each frame at once (the WebSocket server's
pre-framed path: the frame goes straight to the socket's write buffer).
Sending never awaits: the hub appends to a bounded outbox (or hands the frame
to the sink) and wakes the adapter, so one slow subscriber cannot slow a
publish down (PROTOCOL.md §3, slow consumers). Past the bound the connection
is closed with 1013 and the client recovers from history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from ..protocol import CloseCode
from ..protocol.frames import Filters
from .encoding import Encoder, encoder_for
from .limits import TokenBucket
from .principal import Principal

__all__ = ["Connection", "FrameSink"]

#: How often :meth:`Connection.wait_room` looks at the backlog again (seconds).
_ROOM_POLL = 0.005


class FrameSink(Protocol):
    """Takes a connection's frames as they are sent, in order, without waiting.

    The WebSocket server's pre-framed path implements it: each text is framed
    (once per publication, whatever the number of subscribers) and written to
    the socket at the end of the loop turn. Its bound is the connection's
    (``max_frames`` per loop turn, ``max_bytes`` not yet on the socket).
    """

    def put(self, text: str) -> bool:
        """Take one encoded frame after every earlier one; ``False`` when that would
        pass the bound (the connection then closes with 1013)."""
        ...

    def discard(self) -> None:
        """Drop the frames taken and not yet written (a slow consumer's backlog)."""
        ...

    def backlog(self) -> int:
        """Bytes taken and not yet on the socket (what counts against ``max_bytes``)."""
        ...


class Connection:
    """State of one connection: identity, subscriptions, presence and the outbox.

    Attributes:
        connection_id: Unique per connection.
        last_seen: When the client last sent anything (liveness, presence).
        stale: Whether presence shows the client offline for its silence.
        client_id: The client's stable identity (kept across reconnects).
        principal: The authenticated identity.
        peer: The remote address, for per-IP limits.
        subscriptions: Channel name → filters (``None`` for no filter).
        dialect: The wire dialect (``praison`` until the first frame says otherwise).
        transport: How the client is carried, set by its adapter (``websocket``,
            ``poll``, ``sse``, ``sse-run``, ``agent-ui``): what metrics count by.
        conversation_id: The conversation of an agent-chat ``/ws/{session_id}`` connection
            (its runs share their turns).
        closing_since: When the hub's upkeep first saw the close request (hub clock),
            ``None`` while open; a connection still here long after that is aborted.
        on_abort: Set by the transport adapter: drop the connection without waiting
            for the peer (its writer may be stuck behind a socket the peer stopped reading).
    """

    ABORT_GRACE: ClassVar[float] = 5.0
    """Seconds a requested close may take before the hub aborts the connection.

    A close normally completes within milliseconds (the close frame is written,
    the transport ends the connection). A connection still open long after is stuck:
    its peer stopped reading, so the transport cannot write even the close frame
    and nothing else would ever end the connection (there are no protocol-level
    pings). The hub's upkeep uses ``min(ABORT_GRACE, idle_timeout)``, and at least
    two upkeep ticks, so a slow but reading client can still flush its close.
    """

    __slots__ = (
        "__weakref__",
        "_max_bytes",
        "_max_frames",
        "_outbox",
        "_outbox_bytes",
        "_sink",
        "_waiter",
        "client_id",
        "close_code",
        "close_reason",
        "closing_since",
        "connected_at",
        "connection_id",
        "conversation_id",
        "dialect",
        "dialect_fixed",
        "encode",
        "gaps",
        "last_ping",
        "last_seen",
        "metadata",
        "on_abort",
        "on_ready",
        "peer",
        "principal",
        "publish_bucket",
        "stale",
        "status",
        "subscriptions",
        "transport",
    )

    def __init__(
        self,
        connection_id: str,
        client_id: str,
        *,
        principal: Principal,
        peer: str,
        now: float,
        max_frames: int,
        max_bytes: int,
        dialect: str = "praison",
        dialect_fixed: bool = False,
        conversation_id: str | None = None,
        transport: str = "websocket",
    ) -> None:
        self.connection_id = connection_id
        self.transport = transport
        self.client_id = client_id
        self.principal = principal
        self.peer = peer
        self.connected_at = now
        self.last_seen = now
        self.last_ping = now
        self.stale = False
        self.status = "online"
        self.metadata: dict[str, Any] = {}
        self.subscriptions: dict[str, Filters | None] = {}
        #: The publish-rate token bucket, made on the first publication.
        self.publish_bucket: TokenBucket | None = None
        #: Channel → ``(epoch, offset)`` of the last publication dropped for it under
        #: the ``drop`` slow-consumer policy, until the ``channel_gap`` notice is sent.
        self.gaps: dict[str, tuple[str, int]] | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.closing_since: float | None = None
        # A list, not a deque: an empty deque costs ~600 bytes, and drain() swaps it out whole.
        self._outbox: list[str] = []
        self._outbox_bytes = 0
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._waiter: asyncio.Future[None] | None = None
        self._sink: FrameSink | None = None
        self.on_ready: Callable[[], None] | None = None
        self.on_abort: Callable[[], None] | None = None
        self.conversation_id = conversation_id
        self.dialect_fixed = dialect_fixed
        self.dialect = dialect
        self.encode: Encoder = encoder_for(dialect)

    def set_dialect(self, dialect: str) -> None:
        """Fix the connection's dialect (from ``?protocol=`` or its first frame)."""
        self.dialect = dialect
        self.dialect_fixed = True
        self.encode = encoder_for(dialect)

    def __repr__(self) -> str:
        subscriptions = len(self.subscriptions)
        return f"<Connection {self.connection_id} client={self.client_id} subs={subscriptions}>"

    @property
    def closing(self) -> bool:
        """Whether the hub asked for this connection to close."""
        return self.close_code is not None

    @property
    def max_frames(self) -> int:
        """The send bound in frames (``LimitsConfig.send_queue_max_frames``)."""
        return self._max_frames

    @property
    def max_bytes(self) -> int:
        """The send bound in bytes (``LimitsConfig.send_queue_max_bytes``)."""
        return self._max_bytes

    @property
    def sink(self) -> FrameSink | None:
        """Where frames go at once, when the transport attached one (else: the outbox)."""
        return self._sink

    def attach(self, sink: FrameSink) -> None:
        """Send every frame to ``sink`` from now on, those already queued first."""
        queued = self.drain()
        self._sink = sink
        for text in queued:  # already accepted, so they go even if a close was asked for
            if not sink.put(text):
                self.close(CloseCode.SLOW_CONSUMER, "send queue full")
                return

    def detach(self) -> None:
        """Go back to the outbox (the transport that attached a sink is gone)."""
        self._sink = None

    def send_text(self, text: str) -> bool:
        """Queue one encoded frame without waiting; ``False`` if it was not queued.

        Overflowing the outbox (or the sink's bound) closes the connection with
        1013 (slow consumer).
        """
        if self.close_code is not None:
            return False
        sink = self._sink
        if sink is not None:
            if sink.put(text):
                return True
            self.close(CloseCode.SLOW_CONSUMER, "send queue full")
            return False
        outbox = self._outbox
        if len(outbox) >= self._max_frames or self._outbox_bytes + len(text) > self._max_bytes:
            self.close(CloseCode.SLOW_CONSUMER, "send queue full")
            return False
        outbox.append(text)
        self._outbox_bytes += len(text)
        if len(outbox) == 1:
            self._notify()
        return True

    def offer_text(self, text: str) -> bool:
        """Queue one encoded frame if it fits, without waiting; ``False`` (and the
        connection left open) when it does not: the ``drop`` slow-consumer policy."""
        if self.close_code is not None:
            return False
        sink = self._sink
        if sink is not None:
            return sink.put(text)
        outbox = self._outbox
        if len(outbox) >= self._max_frames or self._outbox_bytes + len(text) > self._max_bytes:
            return False
        outbox.append(text)
        self._outbox_bytes += len(text)
        if len(outbox) == 1:
            self._notify()
        return True

    def _notify(self) -> None:
        """Wake whoever moves this connection's frames: a waiting writer, or the on-ready hook."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.on_ready is not None:
            self.on_ready()

    def send(self, frame: dict[str, Any]) -> bool:
        """Encode a native frame in this connection's dialect and queue the result."""
        queued = True
        for text in self.encode(frame):
            queued = self.send_text(text) and queued
        return queued

    def close(self, code: int, reason: str = "") -> None:
        """Ask the transport to close; frames already queued are still sent first,
        except for a slow consumer, whose backlog is dropped."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        if code == CloseCode.SLOW_CONSUMER:
            # The client recovers from history; flushing a backlog it cannot read is waste.
            self._outbox = []
            self._outbox_bytes = 0
            if self._sink is not None:
                self._sink.discard()
        self._notify()

    def abort(self) -> None:
        """Drop the connection now: a close was asked for, but the transport never
        finished it (typically a peer that stopped reading, so even the close frame
        cannot be written). Closes with 1011 first if no close was requested."""
        if self.close_code is None:
            self.close(CloseCode.INTERNAL_ERROR, "aborted")
        hook = self.on_abort
        if hook is not None:
            self.on_abort = None
            hook()

    async def wait_outgoing(self) -> None:
        """Wait until a frame is queued or a close was requested."""
        while not self._outbox and self.close_code is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def drain(self) -> list[str]:
        """Take every queued frame, oldest first."""
        frames = self._outbox
        if not frames:
            return []
        self._outbox = []
        self._outbox_bytes = 0
        return frames

    def pending(self) -> int:
        """Frames queued and not yet drained."""
        return len(self._outbox)

    def backlog(self) -> int:
        """Bytes sent and not yet on their way to the peer (counted against ``max_bytes``)."""
        sink = self._sink
        return self._outbox_bytes if sink is None else sink.backlog()

    async def wait_room(self, size: int, budget: int, stall: float) -> bool:
        """Wait until ``size`` more bytes fit in ``budget`` (or nothing is queued at all);
        ``False`` when the connection closed meanwhile.

        What sends a long backlog on its own accord (a replay in pages) waits
        here between frames, so it never overflows the bound a live fan-out must
        respect. A peer that takes nothing for ``stall`` seconds is a slow
        consumer: closed with 1013. The wait is a short poll, which only runs
        during such a replay.
        """
        loop = asyncio.get_running_loop()
        lowest, since = -1, loop.time()
        while self.close_code is None:
            backlog = self.backlog()
            fits = backlog + size <= budget and len(self._outbox) < self._max_frames // 2
            if backlog == 0 or fits:
                return True
            now = loop.time()
            if lowest < 0 or backlog < lowest:
                lowest, since = backlog, now  # progress: the peer takes frames
            elif now - since >= stall:
                self.close(CloseCode.SLOW_CONSUMER, "replay stalled")
                return False
            await asyncio.sleep(_ROOM_POLL)
        return False
