"""The ``/ws`` endpoint: a raw ASGI adapter between a WebSocket and the hub.

It only moves text: authentication, limits and every frame's meaning live in
the hub. Raw ASGI (not Starlette's ``WebSocket`` wrapper) keeps the per-frame
cost of the send path to one dict and one ``await``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

from ..hub import Hub, LimitExceeded, Session
from ..protocol import CloseCode, ErrorCode, encode_json
from ..protocol.dialects import Dialect, detect_dialect

__all__ = ["WebSocketEndpoint", "bearer_token", "redact_token", "route_path"]

logger = logging.getLogger("praison_push.server")

Scope = dict[str, Any]
Message = dict[str, Any]


def bearer_token(scope: Mapping[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[-1] for key, values in parse_qs(raw).items()}


def redact_token(scope: MutableMapping[str, Any]) -> None:
    """Drop ``token`` from the scope's query string once it has been read.

    uvicorn logs each accepted WebSocket's path with its query string at INFO,
    taken from this very scope dict, so a ``?token=`` would reach the logs.
    """
    raw: bytes = scope.get("query_string", b"")
    if b"token" not in raw:
        return
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key != "token"]
    scope["query_string"] = urlencode(kept).encode("ascii")


_SESSION_PATH = re.compile(r"^/ws/([A-Za-z0-9_.:@-]{1,128})$")


def route_path(scope: Scope) -> str:
    """The path below the app's mount point (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


ABORT_CLOSE_TIMEOUT = 1.0
"""Seconds an aborting connection's close frame may take (servers without a reachable transport)."""


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

    def _routes_here(self, scope: Scope) -> bool:
        if scope["type"] != "websocket":
            return False
        path = route_path(scope)
        if path == "/ws":
            return True
        match = _SESSION_PATH.match(path)
        if match is None:
            return False
        scope["path_params"] = {"session_id": match.group(1)}
        return True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.fallback is not None and not self._routes_here(scope):
            await self.fallback(scope, receive, send)
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        query = _query(scope)
        redact_token(scope)
        chat_session = scope.get("path_params", {}).get("session_id")
        requested = query.get("protocol") or ("agent-chat" if chat_session else None)
        dialect: str | None = None
        if requested is not None:
            chosen = detect_dialect(requested, None)
            if chosen is None:
                # Before the accept, a close refuses the handshake (HTTP 403).
                await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
                return
            dialect = chosen.value
        await send({"type": "websocket.accept"})
        hub = self.hub
        token = query.get("token") or bearer_token(scope)
        first: str | None = None
        answered_auth_frame = False
        if token is None and (hub.auth_required or dialect == Dialect.ENVELOPE.value):
            first = await self._first_frame(receive)
            if first is not None:
                if dialect is None:
                    dialect = hub.detect(first)
                token = hub.token_from_auth_frame(first)
                if token is not None:
                    first, answered_auth_frame = None, True
        principal = hub.authenticate(token)
        if principal is None:
            logger.info("refused a connection: %s", "bad token" if token else "no token")
            text, code = hub.refuse(
                dialect, "invalid token" if token else "a valid token is required"
            )
            await send({"type": "websocket.send", "text": text})
            await send({"type": "websocket.close", "code": code})
            return
        # An envelope client is greeted (auth_success) only in answer to its auth frame.
        greet = dialect != Dialect.ENVELOPE.value or answered_auth_frame
        client = scope.get("client")
        try:
            session = hub.connect(
                client_id=query.get("client_id"),
                principal=principal,
                peer=client[0] if client else "",
                dialect=dialect,
                chat_session=chat_session,
                greet=greet,
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
            return
        writer = _Writer(session, send)
        try:
            if first is not None:
                await hub.receive(session, first)
            # The read loop is inlined: one coroutine frame per connection, not two.
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    await hub.receive(
                        session, text if text is not None else message.get("bytes", b"")
                    )
                elif kind == "websocket.disconnect":
                    return
        except asyncio.CancelledError:
            # _Writer.abort ends the read loop itself only where the server would not;
            # that cancellation ends the connection, so it is not passed on.
            if not writer.ended_reader:
                raise
        finally:
            hub.disconnect(session)
            writer.stop()

    async def _first_frame(self, receive: Any) -> str | None:
        """Wait ``auth_timeout`` for the first frame (it may carry the token)."""
        try:
            message = await asyncio.wait_for(receive(), self.hub.config.limits.auth_timeout)
        except asyncio.TimeoutError:
            return None
        if message["type"] != "websocket.receive":
            return None
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", "replace")
        return str(text)


class _Writer:
    """Moves a session's queued frames into its WebSocket.

    The task exists only while there is something to send, or while the
    session has subscriptions (fan-out will come): an idle connection keeps no
    task, which is most of the difference between ~20 KB and ~26 KB per
    connection at 5,000 idle connections (see ``bench/fanout.py``).

    It also answers :meth:`Session.abort` (the hub's upkeep, for a close that
    never completed): see :meth:`_abort`.
    """

    __slots__ = ("_reader", "_send", "_session", "_task", "ended_reader")

    def __init__(self, session: Session, send: Any) -> None:
        self._session = session
        self._send = send
        self._task: asyncio.Task[None] | None = None
        self._reader = asyncio.current_task()
        self.ended_reader = False
        session.on_ready = self._kick
        session.on_abort = self._abort
        if session.pending() or session.closing:
            self._kick()

    def _kick(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """The connection is gone: stop writing and drop the hooks."""
        self._session.on_ready = None
        self._session.on_abort = None
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
        self._session.on_ready = None
        if self._task is not None:
            self._task.cancel()
        transport = _transport_of(self._send)
        if transport is not None:
            transport.abort()
            return
        asyncio.get_running_loop().create_task(self._close_or_end_reader())

    async def _close_or_end_reader(self) -> None:
        session = self._session
        message = {
            "type": "websocket.close",
            "code": session.close_code or CloseCode.INTERNAL_ERROR,
            "reason": session.close_reason,
        }
        try:
            await asyncio.wait_for(self._send(message), ABORT_CLOSE_TIMEOUT)
            return  # the server now ends the connection and tells the read loop
        except Exception as exc:  # timed out, or the peer is gone
            logger.debug("close of %s failed: %r", session.session_id, exc)
        reader = self._reader
        if reader is not None and not reader.done():
            self.ended_reader = True
            reader.cancel()

    async def _run(self) -> None:
        session, send = self._session, self._send
        try:
            while True:
                frames = session.drain()
                for text in frames:
                    await send({"type": "websocket.send", "text": text})
                if frames:
                    continue
                if session.closing:
                    await send(
                        {
                            "type": "websocket.close",
                            "code": session.close_code,
                            "reason": session.close_reason,
                        }
                    )
                    return
                if not session.subscriptions:
                    return
                await session.wait_outgoing()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send; the reader will notice
            logger.debug("send to %s failed: %r", session.session_id, exc)
        finally:
            self._task = None
