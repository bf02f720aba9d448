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
    ErrorCode,
    FrameError,
    NotConnectedError,
    TransportError,
    decode_object,
    encode_json,
)

from ..protocol.redaction import install_redaction
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
        # Messages name the URL as the user gave it: no generated client_id, no secrets.
        self._where = redact_url(url)
        self._auth_token = auth_token
        self._open_timeout = open_timeout
        self._max_size = max_size
        self._connect_kwargs = connect_kwargs
        self._ws: ClientConnection | None = None
        #: The largest frame the gateway accepts, in bytes (from its greeting; ``None``:
        #: unknown). A larger frame is refused here, before it would close the connection.
        self.max_message_size: int | None = None

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
        # websockets logs the request headers and every frame at DEBUG: never the token.
        install_redaction()
        where = self._where
        try:
            self._ws = await connect(
                self._url,
                additional_headers=headers,
                open_timeout=self._open_timeout,
                max_size=self._max_size,
                **self._connect_kwargs,
            )
        except InvalidStatus as exc:
            raise _refused(where, exc.response.status_code) from exc
        except (InvalidURI, ValueError):
            # Their messages repeat the URL, query token included.
            raise TransportError(f"cannot open {where}: {_bad_url(url_of=self._url)}") from None
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
        limit = self.max_message_size
        if limit is not None and len(text) > limit // 4 and len(text.encode()) > limit:
            size = len(text.encode())
            raise FrameError(
                ErrorCode.TOO_LARGE,
                f"message too large: {size:,} bytes, the gateway's limit is "
                f"{_size(limit)} (LimitsConfig.max_message_size)",
                limit="max_message_size",
            )
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


def _refused(where: str, status: int) -> AuthenticationFailed | TransportError:
    """Our error for an HTTP answer to the upgrade request, naming the likely cause.

    A praison_push gateway never refuses a token with an HTTP status: it
    accepts the WebSocket and closes it with 4001/4003. So 403 and 404 mean the
    request reached something that has no WebSocket endpoint there (a wrong
    path, or a proxy in the way); only 401 is about credentials.
    """
    if status == 401:
        return AuthenticationFailed("unauthorized", f"{where} refused the credentials (HTTP 401)")
    if status in (403, 404):
        return TransportError(
            f"cannot open {where}: HTTP {status}, no WebSocket endpoint at this path "
            "(a praison_push gateway serves /ws)"
        )
    return TransportError(f"cannot open {where}: HTTP {status}")


def _bad_url(url_of: str) -> str:
    """Why a URL cannot be dialled, without repeating it (it may hold a token)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url_of)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "the port is not a number"
    if parts.scheme not in ("ws", "wss"):
        return "not a ws:// or wss:// URL"
    return "not a valid WebSocket URL"


def _size(limit: int) -> str:
    """``64 KiB (65,536 bytes)``."""
    if limit % 1024 == 0:
        return f"{limit // 1024:,} KiB ({limit:,} bytes)"
    return f"{limit:,} bytes"


def _closed(exc: ConnectionClosed) -> ConnectionClosedError:
    """Our error for a closed connection: the peer's close frame, if one arrived."""
    if exc.rcvd is not None:
        return ConnectionClosedError(exc.rcvd.code, exc.rcvd.reason)
    return ConnectionClosedError(None, "connection lost without a close frame")


def _describe(exc: BaseException) -> str:
    """A short one-line description (some socket errors have an empty ``str``)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
