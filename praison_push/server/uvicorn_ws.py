"""uvicorn's websockets-sansio protocol, lending the app each connection's transport.

:class:`PushWebSocketProtocol` is what :func:`~praison_push.server.build_server`
passes as uvicorn's ``ws=`` implementation. It is uvicorn's own
``WebSocketsSansIOProtocol`` (the default with ``websockets`` installed), plus:

* a WebSocket that negotiated no extension gets the ASGI extension
  :data:`~praison_push.server.wire.PREBUILT_SEND` in its scope, so the ``/ws``
  endpoint can write pre-built frames straight to the transport (the pre-framed
  path, :mod:`praison_push.server.wire`);
* once the handshake's response is sent, its request and response objects are
  let go (about 2 KB a connection, kept by uvicorn for the connection's life);
* a text frame that is not UTF-8 closes the connection with 1007 without a
  traceback — also when the client's close arrived in the same read, where
  uvicorn's own handling fails ("connection is closing") and asyncio logs a
  fatal error.
* reading is paused only once the app is :data:`MAX_QUEUED_FRAMES` messages or
  :data:`MAX_QUEUED_BYTES` behind, not after every message as uvicorn does: two
  ``epoll_ctl`` calls less per received frame, which is most of what a stream
  of small frames (acknowledgements: one every 100 ms per tracked subscriber)
  costs beyond the hub's own work.

To serve a gateway's app with your own uvicorn and keep that path::

    uvicorn.run(gateway.asgi_app(), ws=PushWebSocketProtocol, ws_per_message_deflate=False)

Any other server (or uvicorn's other implementations) serves the app too: the
endpoint then falls back to ASGI ``send``.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from .wire import PREBUILT_SEND

__all__ = ["MAX_QUEUED_BYTES", "MAX_QUEUED_FRAMES", "PushWebSocketProtocol"]

#: Received messages the app may be behind before reading pauses (then resumes at half).
MAX_QUEUED_FRAMES = 32
#: Their bytes, likewise (a message is queued whole, so one large one may pass it).
MAX_QUEUED_BYTES = 256 * 1024

logger = logging.getLogger("praison_push.server")


class PushWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol offering :data:`PREBUILT_SEND` to the app."""

    #: Sizes of the received messages queued for the app, in queue order.
    _sizes: deque[int] | None = None
    _queued_bytes = 0

    def send_receive_event_to_app(self) -> None:
        if self.close_sent:
            super().send_receive_event_to_app()
            return
        size = sum(len(part) for part in self.frames)
        if self.curr_msg_data_type == "text":
            event = self._text_event()
            if event is None:
                return  # not UTF-8: the connection is failing
            self.queue.put_nowait(event)
        else:
            queue = self.queue
            before = queue.qsize()
            paused = self.read_paused
            self.read_paused = True  # keeps uvicorn from pausing after this message
            try:
                super().send_receive_event_to_app()
            finally:
                self.read_paused = paused
            if queue.qsize() == before:
                return
        self._queued(size)

    def _queued(self, size: int) -> None:
        """Count a message queued for the app; pause reading once it is far behind."""
        sizes = self._sizes
        if sizes is None:
            sizes = self._sizes = deque()
        sizes.append(size)
        self._queued_bytes += size
        if not self.read_paused and (
            len(sizes) >= MAX_QUEUED_FRAMES or self._queued_bytes > MAX_QUEUED_BYTES
        ):
            self.read_paused = True
            self.transport.pause_reading()

    def _text_event(self) -> Any:
        """The receive event of the text frame in ``self.frames`` (one decode, as
        uvicorn does), or ``None`` when it is not UTF-8 and the connection fails."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            if self.conn.state is State.OPEN:  # else the client's close came with it
                logger.warning(
                    "closed a connection that sent a text frame that is not UTF-8 (1007)",
                    extra={"client_error": True},
                )
                self.conn.send_close(1007)
                self.handle_parser_exception()
            return None
        return {"type": "websocket.receive", "text": text}

    async def receive(self) -> ASGIReceiveEvent:
        message = await self.queue.get()
        sizes = self._sizes
        if message["type"] == "websocket.receive" and sizes:
            self._queued_bytes -= sizes.popleft()
        if self.read_paused and (
            self.queue.empty()
            or (
                len(sizes or ()) <= MAX_QUEUED_FRAMES // 2
                and self._queued_bytes <= MAX_QUEUED_BYTES // 2
            )
        ):
            self.read_paused = False
            self.transport.resume_reading()
        return message

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The app's task is created but has not run yet: the scope it will read
        # is this one. Frames built elsewhere cannot carry a negotiated extension.
        if self.response.status_code == 101 and not self.conn.extensions:
            extensions = self.scope.setdefault("extensions", {})
            extensions[PREBUILT_SEND] = {"transport": self.transport}

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Only the handshake reads them; uvicorn would keep them for hours.
            attributes = vars(self)
            attributes.pop("request", None)
            attributes.pop("response", None)
