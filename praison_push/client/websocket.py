"""The WebSocket transport, over the ``websockets`` asyncio client (>= 14 API).

It does one job: move JSON-object frames over one WebSocket connection, and
turn every ``websockets`` exception into one of ours at this edge, so nothing
above it needs to know which library carries the frames.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from praison_push.protocol import (
    AuthenticationFailed,
    ConnectionClosedError,
    NotConnectedError,
    TransportError,
    decode_object,
    encode_json,
)

from .urls import redact_url, with_query

__all__ = ["WebSocketTransport"]

logger = logging.getLogger("praison_push.client")

#: Largest frame accepted from the gateway. Server frames can be far larger than
#: client frames (a ``channel.history`` reply holds many messages).
DEFAULT_MAX_SIZE = 16 * 1024 * 1024


class WebSocketTransport:
    """A :class:`~praison_push.client.PushTransportProtocol` over one WebSocket.

    Args:
        url: The gateway endpoint, e.g. ``ws://127.0.0.1:8765/ws``.
        auth_token: Sent as ``Authorization: Bearer <token>`` with the upgrade
            request, so it never appears in URLs or server access logs.
        client_id: Sent as the ``client_id`` query parameter, so the gateway
            keeps presence and pending deliveries across reconnects (PROTOCOL.md §2).
        open_timeout: Seconds allowed for TCP, TLS and the WebSocket handshake.
        max_size: Largest frame accepted from the gateway, in bytes (``None``: no limit).
        **connect_kwargs: Passed to :func:`websockets.asyncio.client.connect`
            (``ssl``, ``proxy``, ``ping_interval`` …) for what this class does not cover.
    """

    def __init__(
        self,
        url: str,
        auth_token: str | None = None,
        *,
        client_id: str | None = None,
        open_timeout: float = 10.0,
        max_size: int | None = DEFAULT_MAX_SIZE,
        **connect_kwargs: Any,
    ) -> None:
        self._url = with_query(url, client_id=client_id) if client_id else url
        self._auth_token = auth_token
        self._open_timeout = open_timeout
        self._max_size = max_size
        self._connect_kwargs = connect_kwargs
        self._ws: ClientConnection | None = None

    def __repr__(self) -> str:
        state = "open" if self.is_connected else "closed"
        return f"<WebSocketTransport {redact_url(self._url)} {state}>"

    @property
    def url(self) -> str:
        """The URL dialled (with ``client_id``); may hold secrets: redact before logging."""
        return self._url

    @property
    def is_connected(self) -> bool:
        """Whether the WebSocket is open."""
        return self._ws is not None and self._ws.close_code is None

    @property
    def close_code(self) -> int | None:
        """The close code once the connection has closed (``None`` while open or never opened)."""
        return None if self._ws is None else self._ws.close_code

    async def connect(self) -> None:
        """Open the WebSocket.

        Raises:
            AuthenticationFailed: The gateway refused the upgrade with HTTP 401/403.
            TransportError: The URL is invalid, or the gateway cannot be reached
                or did not complete the handshake within ``open_timeout``.
        """
        if self.is_connected:
            return
        headers = {"Authorization": f"Bearer {self._auth_token}"} if self._auth_token else None
        where = redact_url(self._url)
        try:
            self._ws = await connect(
                self._url,
                additional_headers=headers,
                open_timeout=self._open_timeout,
                max_size=self._max_size,
                **self._connect_kwargs,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthenticationFailed(
                    "unauthorized", f"{where} refused the credentials (HTTP {status})"
                ) from exc
            raise TransportError(f"cannot open {where}: HTTP {status}") from exc
        except InvalidURI as exc:
            # InvalidURI's own message repeats the URL, query token included.
            raise TransportError(f"cannot open {where}: not a ws:// or wss:// URL") from (
                None if where != self._url else exc
            )
        except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
            raise TransportError(f"cannot open {where}: {_describe(exc)}") from exc
        logger.debug("websocket open to %s", where)

    async def disconnect(self) -> None:
        """Close the WebSocket with code 1000; idempotent."""
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.close()
        except (OSError, WebSocketException) as exc:  # pragma: no cover - close() rarely raises
            logger.debug("error while closing %s: %s", redact_url(self._url), exc)

    async def send(self, data: dict[str, Any]) -> None:
        """Encode ``data`` as compact JSON and send it as one text frame.

        Raises:
            NotConnectedError: ``connect()`` was not called.
            ConnectionClosedError: The connection is closed.
            TypeError, ValueError: ``data`` is not JSON-serialisable.
        """
        ws = self._ws
        if ws is None:
            raise NotConnectedError("the WebSocket transport is not connected")
        text = encode_json(data)
        try:
            await ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def receive(self) -> dict[str, Any]:
        """Wait for the next frame and decode it into a JSON object.

        Raises:
            NotConnectedError: ``connect()`` was not called.
            ConnectionClosedError: The connection closed (``code`` is ``None``
                when it dropped without a close frame).
            FrameError: The frame is not a JSON object; the connection stays usable.
        """
        ws = self._ws
        if ws is None:
            raise NotConnectedError("the WebSocket transport is not connected")
        try:
            raw = await ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        return decode_object(raw)


def _closed(exc: ConnectionClosed) -> ConnectionClosedError:
    """Our error for a closed connection: the peer's close frame, if one arrived."""
    if exc.rcvd is not None:
        return ConnectionClosedError(exc.rcvd.code, exc.rcvd.reason)
    return ConnectionClosedError(None, "connection lost without a close frame")


def _describe(exc: BaseException) -> str:
    """A short one-line description (some socket errors have an empty ``str``)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
