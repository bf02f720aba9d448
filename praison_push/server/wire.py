"""The pre-framed path: a publication's WebSocket frame built once, written to every socket.

Server-to-client WebSocket frames are unmasked, and compression is off, so a
publication's frame is the same bytes for every subscriber of a dialect. When
the server lends the app each connection's transport (the ASGI extension
:data:`PREBUILT_SEND`, added by
:class:`~praison_push.server.uvicorn_ws.PushWebSocketProtocol`), the ``/ws``
endpoint attaches a :class:`WireWriter` to the hub connection
(:class:`~praison_push.hub.FrameSink`) instead of draining its outbox through
ASGI ``send``:

* the hub's fan-out hands the same text object to every subscriber, and the
  shared :class:`Framer` turns it into frame bytes once (it knows the last
  texts by identity);
* a connection's frames of one event-loop turn go out together in one
  ``transport.write`` when the turn ends (:class:`Flusher`): one syscall for
  many frames. Every frame of a connection — replies and greetings too — takes
  this path, so the order per connection is the order of sending, and a frame
  is always written whole;
* the slow-consumer bound is the transport's write buffer plus the turn's
  frames against ``send_queue_max_bytes`` (and the turn's frames against
  ``send_queue_max_frames``): past it the hub closes with 1013, and the upkeep
  aborts a close the peer never reads, as on the ``send`` path;
* a transport that is closing is never written to again: frames waiting for
  it are dropped, so a crowd that drops at once leaves no write behind.

Only ``websocket.close`` still goes through ASGI ``send``, after every frame
before it has been written. Without the extension (another ASGI server, or
uvicorn with another ``ws`` implementation) the endpoint uses ``send`` for
everything (:class:`~praison_push.server.websocket.WebSocketEndpoint`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.frames import Frame, Opcode

from ..hub import Connection

__all__ = ["PREBUILT_SEND", "Flusher", "Framer", "WireWriter"]

logger = logging.getLogger("praison_push.server")

PREBUILT_SEND = "praison.prebuilt_send"
"""The ASGI extension of the pre-framed path: ``scope["extensions"][PREBUILT_SEND]``
is ``{"transport": <the connection's asyncio transport>}``.

A server that offers it promises that, from ``websocket.accept`` until the app
sends ``websocket.close``, the app may write complete server frames (RFC 6455
§5.2: unmasked, no extension bits) to that transport, and that the server
itself writes only whole frames in between (pongs, a close reply). It is
offered only when no WebSocket extension (compression) was negotiated. Frames
written this way do not pass through middleware that wraps ``send``; only the
close does.
"""


class Framer:
    """Turns encoded text into a WebSocket text frame, remembering the last two.

    The fan-out passes one string object to every subscriber of a dialect, so
    a publication is framed once however many subscribers it has; two entries
    cover a fan-out that alternates between two dialects.
    """

    __slots__ = ("_older_frame", "_older_text", "frame", "text")

    def __init__(self) -> None:
        self.text: str | None = None
        self.frame = b""
        self._older_text: str | None = None
        self._older_frame = b""

    def framed(self, text: str) -> bytes:
        """The frame of ``text``: built once for a text object seen last or before."""
        if text is self.text:
            return self.frame
        if text is self._older_text:
            frame = self._older_frame
        else:
            frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=False)
        self._older_text, self._older_frame = self.text, self.frame
        self.text, self.frame = text, frame
        return frame


class Flusher:
    """Writes the frames each connection got during a loop turn, when the turn ends.

    One per event loop (the endpoint keeps it). The first frame a connection
    gets in a turn registers it; one ``call_soon`` then writes every
    registered connection's frames with one ``transport.write`` each.

    Args:
        loop: The event loop the connections live on.
    """

    __slots__ = ("_pending", "_scheduled", "framer", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.framer = Framer()
        self._pending: list[WireWriter] = []
        self._scheduled = False

    def schedule(self, writer: WireWriter) -> None:
        """Write ``writer``'s frames when this loop turn ends."""
        self._pending.append(writer)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for writer in pending:
            try:
                writer.flush()
            except Exception as exc:  # one broken transport must not stop the others
                logger.debug("write to %s failed: %r", writer.connection_id, exc)


class WireWriter:
    """One connection's frames, straight to its transport (a hub :class:`FrameSink`).

    It also closes the WebSocket when the hub asks (through ASGI ``send``,
    after the frames before the close) and answers :meth:`Connection.abort`
    by aborting the transport.

    Args:
        connection: The hub connection; the writer attaches itself to it.
        send: The ASGI ``send`` (for the close frame only).
        transport: The connection's transport (from :data:`PREBUILT_SEND`).
        flusher: The loop's flusher (and its framer).
    """

    __slots__ = (
        "_batch",
        "_batch_bytes",
        "_closer",
        "_connection",
        "_flusher",
        "_framer",
        "_max_bytes",
        "_max_frames",
        "_open",
        "_send",
        "_transport",
        "ended_reader",
    )

    def __init__(
        self, connection: Connection, send: Any, transport: asyncio.WriteTransport, flusher: Flusher
    ) -> None:
        self._connection = connection
        self._send = send
        self._transport = transport
        self._flusher = flusher
        self._framer = flusher.framer
        self._max_bytes = connection.max_bytes
        self._max_frames = connection.max_frames
        self._batch: list[bytes] | None = None
        self._batch_bytes = 0
        #: Frames may still be written (no close frame sent, transport not closing).
        self._open = True
        self._closer: asyncio.Task[None] | None = None
        #: The read loop is ended by the server (the transport's end), never by us.
        self.ended_reader = False
        connection.on_ready = self._on_close_requested
        connection.on_abort = self._abort
        connection.attach(self)
        if connection.closing:
            self._on_close_requested()

    @property
    def connection_id(self) -> str:
        return self._connection.connection_id

    def put(self, text: str) -> bool:
        """Take one frame for the end of this loop turn; ``False`` past the bound."""
        if not self._open:
            return True  # the transport is going away: dropped, never written
        framer = self._framer
        frame = framer.frame if text is framer.text else framer.framed(text)
        batch = self._batch
        if batch is None:
            transport = self._transport
            if transport.is_closing():
                self._open = False
                return True
            backlog = transport.get_write_buffer_size() + len(frame)
            if backlog > self._max_bytes:
                return False
            self._batch = [frame]
            self._batch_bytes = backlog
            self._flusher.schedule(self)
            return True
        backlog = self._batch_bytes + len(frame)
        if backlog > self._max_bytes or len(batch) >= self._max_frames:
            return False
        batch.append(frame)
        self._batch_bytes = backlog
        return True

    def discard(self) -> None:
        """Drop the frames of this turn (a slow consumer's backlog)."""
        self._batch = None

    def backlog(self) -> int:
        """Bytes of this turn plus those in the transport's write buffer."""
        if self._batch is not None:
            return self._batch_bytes
        return 0 if not self._open else self._transport.get_write_buffer_size()

    def flush(self) -> None:
        """Write this turn's frames in one write, unless the transport is closing."""
        batch = self._batch
        if batch is None:
            return
        self._batch = None
        transport = self._transport
        if not self._open or transport.is_closing():
            self._open = False
            return
        transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    def stop(self) -> None:
        """The connection is gone: write nothing more, drop the hooks."""
        self._open = False
        self._batch = None
        connection = self._connection
        connection.on_ready = None
        connection.on_abort = None
        connection.detach()
        if self._closer is not None:
            self._closer.cancel()

    def _on_close_requested(self) -> None:
        # With a sink attached the outbox stays empty: the hub only calls this to close.
        if self._connection.closing and self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(self._close())

    async def _close(self) -> None:
        connection = self._connection
        self.flush()  # the frames sent before the close go first
        self._open = False  # and nothing after it
        message = {
            "type": "websocket.close",
            "code": connection.close_code,
            "reason": connection.close_reason,
        }
        try:
            await self._send(message)
        except Exception as exc:  # the peer went away first; the reader will notice
            logger.debug("close of %s failed: %r", connection.connection_id, exc)

    def _abort(self) -> None:
        """Drop a connection whose close never completed (a peer that stopped reading).

        The close is stuck behind a write buffer the peer does not read; aborting
        the transport ends the connection now, and the server then hands the read
        loop ``websocket.disconnect``.
        """
        self._open = False
        self._batch = None
        self._connection.on_ready = None
        if self._closer is not None:
            self._closer.cancel()
        self._transport.abort()
