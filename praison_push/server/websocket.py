"""The ``/ws`` endpoint: a raw ASGI adapter between a WebSocket and the hub.

It only moves text: authentication, limits and every frame's meaning live in
the hub. Frames go out one of two ways, chosen per connection:

* the pre-framed path (:mod:`.wire`), when the server offers the ASGI extension
  :data:`~.wire.PREBUILT_SEND` (as :func:`~.runner.build_server`'s uvicorn does):
  each publication is framed once and written to every transport;
* the ASGI ``send`` path otherwise (any other server): a writer task drains the
  connection's outbox through ``send``. Raw ASGI (not Starlette's ``WebSocket``
  wrapper) keeps its per-frame cost to one dict and one ``await``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from ..hub import Connection, Hub, LimitExceeded, Principal, handshake
from ..hub.auth import AuthError, AuthRequest
from ..protocol import CloseCode, ErrorCode, encode_json
from .asgi import (
    Scope,
    bearer_token,
    peer_of,
    query_params,
    redact_token,
    request_headers,
    route_path,
)
from .origin import refusal, refuse
from .wire import PREBUILT_SEND, Flusher, WireWriter

__all__ = ["WebSocketEndpoint"]

logger = logging.getLogger("praison_push.server")

_CONVERSATION_PATH = re.compile(r"^/ws/([A-Za-z0-9_.:@-]{1,128})$")


ABORT_CLOSE_TIMEOUT = 1.0
"""Seconds an aborting connection's close frame may take (servers without a reachable transport)."""


def _lent_transport(scope: Scope) -> asyncio.WriteTransport | None:
    """The transport the server lends through :data:`~.wire.PREBUILT_SEND`, if it does."""
    extension = (scope.get("extensions") or {}).get(PREBUILT_SEND)
    transport = extension.get("transport") if isinstance(extension, dict) else None
    needed = ("write", "is_closing", "get_write_buffer_size", "abort")
    if transport is None or not all(callable(getattr(transport, n, None)) for n in needed):
        return None
    lent: asyncio.WriteTransport = transport
    return lent


def _transport_of(send: Any) -> Any:
    """The asyncio transport behind uvicorn's ``send`` (a bound protocol method), if any.

    ASGI has no "abort", and only aborting the transport lets go of a peer that
    stopped reading (see :meth:`_Writer._abort`). Looked up only when aborting.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if callable(getattr(transport, "abort", None)) else None


class WebSocketEndpoint:
    """ASGI app for ``/ws`` (any dialect, PROTOCOL.md §1) and ``/ws/{session_id}`` (agent-chat).

    With a ``fallback`` app it is also the front door: it matches those paths
    itself (relative to ``root_path``) and hands every other request to the
    fallback. A WebSocket lives for hours, and each coroutine frame between the
    server and this handler would stay pinned for that long (Starlette's stack
    costs ~2 KB per connection, a plain dispatcher ~0.4 KB).
    """

    def __init__(self, hub: Hub, fallback: Any = None) -> None:
        self.hub = hub
        self.fallback = fallback
        self._flusher: Flusher | None = None

    def _flusher_here(self) -> Flusher:
        """The running loop's flusher (the pre-framed path's writes at the end of a turn)."""
        loop = asyncio.get_running_loop()
        flusher = self._flusher
        if flusher is None or flusher.loop is not loop:
            flusher = self._flusher = Flusher(loop)
        return flusher

    def _routes_here(self, scope: Scope) -> bool:
        if scope["type"] != "websocket":
            return False
        path = route_path(scope)
        if path == "/ws":
            return True
        match = _CONVERSATION_PATH.match(path)
        if match is None:
            return False
        scope["path_params"] = {"session_id": match.group(1)}
        return True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        # The Origin and Host policy (.origin) comes first, for every route: those
        # of the fallback app too, so a route added there is covered as well.
        refused = refusal(scope, self.hub.config.auth)
        if refused is not None:
            await refuse(scope, receive, send, refused)
            return
        if self.fallback is not None and not self._routes_here(scope):
            await self.fallback(scope, receive, send)
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        query = query_params(scope)
        redact_token(scope)
        conversation_id = scope.get("path_params", {}).get("session_id")
        try:
            dialect = handshake.requested_dialect(query.get("protocol"), conversation_id)
        except handshake.UnknownDialect:
            # Before the accept, a close refuses the handshake (HTTP 403).
            await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
            return
        await send({"type": "websocket.accept"})
        opened = await self._open(scope, query, dialect, conversation_id, receive, send)
        if opened is not None:
            await self._serve(*opened, receive, send, _lent_transport(scope))

    async def _open(
        self,
        scope: Scope,
        query: dict[str, str],
        dialect: str | None,
        conversation_id: str | None,
        receive: Any,
        send: Any,
    ) -> tuple[Connection, str | bytes | None] | None:
        """Authenticate and admit an accepted WebSocket; ``None`` when it was refused.

        Returns the connection, and the first frame it sent while being
        authenticated when that was not its ``auth`` (to be handled as any frame).
        """
        hub = self.hub
        max_size = hub.config.limits.max_message_size
        token = query.get("token") or bearer_token(scope)
        request = AuthRequest(
            "websocket", peer_of(scope), route_path(scope), request_headers(scope)
        )
        first = None
        # Your own authenticate() may accept a request without a token (a cookie):
        # it is asked first, before waiting for a first frame that may carry one.
        pre: Principal | None = None
        if token is None and hub.node.auth.has_hook and dialect != "envelope":
            pre = hub.authenticate(None, request)
        if pre is None and handshake.needs_first_frame(token, dialect, hub.auth_required):
            first = await self._first_frame(receive)
        opening = handshake.opening(token, dialect, first, max_size)
        try:
            principal = pre or hub.login(opening.token, request)
        except AuthError as exc:
            logger.info("refused a connection: %s", exc.code, extra={"client_error": True})
            text, code = handshake.refusal(opening.dialect, str(exc), exc.code)
            await send({"type": "websocket.send", "text": text})
            await send({"type": "websocket.close", "code": code})
            return None
        try:
            connection = hub.connect(
                client_id=query.get("client_id"),
                principal=principal,
                peer=peer_of(scope),
                dialect=opening.dialect,
                conversation_id=conversation_id,
                greet=opening.greet,
                transport="websocket",
            )
        except LimitExceeded as exc:
            error = {
                "type": "error",
                "code": ErrorCode.LIMIT_EXCEEDED.value,
                "message": str(exc),
                "details": {"limit": exc.limit, "max": exc.maximum},
            }
            await send({"type": "websocket.send", "text": encode_json(error)})
            await send({"type": "websocket.close", "code": CloseCode.CONNECTION_LIMIT})
            return None
        return connection, opening.first

    async def _serve(
        self,
        connection: Connection,
        first: str | bytes | None,
        receive: Any,
        send: Any,
        transport: asyncio.WriteTransport | None,
    ) -> None:
        """Feed received frames to the hub until the WebSocket ends; a writer sends."""
        hub = self.hub
        writer: WireWriter | _Writer
        if transport is not None:
            writer = WireWriter(connection, send, transport, self._flusher_here())
        else:
            writer = _Writer(connection, send)
        try:
            if first is not None:
                await hub.receive(connection, first)
            # The read loop is inlined: one coroutine frame per connection, not two.
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    await hub.receive(
                        connection, text if text is not None else message.get("bytes", b"")
                    )
                elif kind == "websocket.disconnect":
                    return
        except asyncio.CancelledError:
            # _Writer.abort ends the read loop itself only where the server would not;
            # that cancellation ends the connection, so it is not passed on.
            if not writer.ended_reader:
                raise
        finally:
            hub.disconnect(connection)
            writer.stop()

    async def _first_frame(self, receive: Any) -> str | bytes | None:
        """Wait ``auth_timeout`` for the first frame (it may carry the token)."""
        try:
            message = await asyncio.wait_for(receive(), self.hub.config.limits.auth_timeout)
        except asyncio.TimeoutError:
            return None
        if message["type"] != "websocket.receive":
            return None
        # Bytes stay bytes: the codec decides (UTF-8 only), as for every later frame.
        text: str | bytes | None = message.get("text")
        return message.get("bytes") or b"" if text is None else text


class _Writer:
    """Moves a connection's queued frames into its WebSocket.

    The task exists only while there is something to send, or while the
    connection has subscriptions (fan-out will come): an idle connection keeps no
    task, which is most of the difference between ~20 KB and ~26 KB per
    connection at 5,000 idle connections (see ``bench/fanout.py``).

    It also answers :meth:`Connection.abort` (the hub's upkeep, for a close that
    never completed): see :meth:`_abort`.
    """

    __slots__ = ("_connection", "_reader", "_send", "_task", "ended_reader")

    def __init__(self, connection: Connection, send: Any) -> None:
        self._connection = connection
        self._send = send
        self._task: asyncio.Task[None] | None = None
        self._reader = asyncio.current_task()
        self.ended_reader = False
        connection.on_ready = self._kick
        connection.on_abort = self._abort
        if connection.pending() or connection.closing:
            self._kick()

    def _kick(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """The connection is gone: stop writing and drop the hooks."""
        self._connection.on_ready = None
        self._connection.on_abort = None
        if self._task is not None:
            self._task.cancel()

    def _abort(self) -> None:
        """Drop a connection whose close never completed.

        The writer is then stuck in ``send``: uvicorn's (websockets-sansio) ``send``
        waits for the socket to drain before every message, a close included, and
        ``transport.close()`` (also run when the app returns) waits for the buffer to
        flush — a peer that stopped reading keeps both waiting forever, and keeps
        graceful shutdown waiting too. So the stuck writer is cancelled and the
        transport aborted; uvicorn then hands the read loop ``websocket.disconnect``
        at once and ``hub.disconnect`` runs. Other servers get a bounded close, and
        if that does not go out, the read loop is ended by cancelling it.
        """
        self._connection.on_ready = None
        if self._task is not None:
            self._task.cancel()
        transport = _transport_of(self._send)
        if transport is not None:
            transport.abort()
            return
        asyncio.get_running_loop().create_task(self._close_or_end_reader())

    async def _close_or_end_reader(self) -> None:
        connection = self._connection
        message = {
            "type": "websocket.close",
            "code": connection.close_code or CloseCode.INTERNAL_ERROR,
            "reason": connection.close_reason,
        }
        try:
            await asyncio.wait_for(self._send(message), ABORT_CLOSE_TIMEOUT)
            return  # the server now ends the connection and tells the read loop
        except Exception as exc:  # timed out, or the peer is gone
            logger.debug("close of %s failed: %r", connection.connection_id, exc)
        reader = self._reader
        if reader is not None and not reader.done():
            self.ended_reader = True
            reader.cancel()

    async def _run(self) -> None:
        connection, send = self._connection, self._send
        # Where the server's transport is reachable, a closing one is never written
        # to: between its end and the server telling the read loop, every write would
        # log "socket.send() raised exception." (asyncio), once per queued frame.
        transport = _transport_of(send)
        try:
            while True:
                frames = connection.drain()
                for text in frames:
                    if transport is not None and transport.is_closing():
                        return
                    await send({"type": "websocket.send", "text": text})
                if frames:
                    continue
                if connection.closing:
                    await send(
                        {
                            "type": "websocket.close",
                            "code": connection.close_code,
                            "reason": connection.close_reason,
                        }
                    )
                    return
                if not connection.subscriptions:
                    return
                await connection.wait_outgoing()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send; the reader will notice
            logger.debug("send to %s failed: %r", connection.connection_id, exc)
        finally:
            self._task = None
