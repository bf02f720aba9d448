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

To serve a gateway's app with your own uvicorn and keep that path::

    uvicorn.run(gateway.asgi_app(), ws=PushWebSocketProtocol, ws_per_message_deflate=False)

Any other server (or uvicorn's other implementations) serves the app too: the
endpoint then falls back to ASGI ``send``.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from .wire import PREBUILT_SEND

__all__ = ["PushWebSocketProtocol"]

logger = logging.getLogger("praison_push.server")


class PushWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol offering :data:`PREBUILT_SEND` to the app."""

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

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            if self.conn.state is not State.OPEN:
                return  # the client's close came with it: the connection is ending anyway
            logger.warning(
                "closed a connection that sent a text frame that is not UTF-8 (1007)",
                extra={"client_error": True},
            )
            self.conn.send_close(1007)
            self.handle_parser_exception()
            return
        # As uvicorn does for a text frame (one decode, not two).
        event: Any = {"type": "websocket.receive", "text": text}
        self.queue.put_nowait(event)
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()
