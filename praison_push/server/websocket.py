"""The ``/ws`` endpoint: a raw ASGI adapter between a WebSocket and the hub.

It only moves text: authentication, limits and every frame's meaning live in
the hub. Raw ASGI (not Starlette's ``WebSocket`` wrapper) keeps the per-frame
cost of the send path to one dict and one ``await``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from ..gateway import Hub, LimitExceeded, Principal, Session
from ..protocol import CloseCode, ErrorCode, encode_json

__all__ = ["WebSocketEndpoint", "bearer_token"]

logger = logging.getLogger("praison_push.server")

Scope = dict[str, Any]
Message = dict[str, Any]


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {key: values[-1] for key, values in parse_qs(raw).items()}


class WebSocketEndpoint:
    """ASGI app for the native dialect's WebSocket (PROTOCOL.md §2)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        query = _query(scope)
        principal = await self._authenticate(scope, query, receive, send)
        if principal is None:
            return
        client = scope.get("client")
        peer = client[0] if client else ""
        try:
            session = self.hub.connect(
                client_id=query.get("client_id"), principal=principal, peer=peer
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
        writer = asyncio.get_running_loop().create_task(self._write(session, send))
        try:
            await self._read(session, receive)
        finally:
            self.hub.disconnect(session)
            if not writer.done():
                writer.cancel()

    async def _authenticate(
        self, scope: Scope, query: dict[str, str], receive: Any, send: Any
    ) -> Principal | None:
        """The connection's principal, or ``None`` after refusing it (4003)."""
        hub = self.hub
        token = query.get("token") or bearer_token(scope)
        if token is None and hub.auth_required:
            token = await self._auth_frame(receive)
        principal = hub.authenticate(token)
        if principal is None:
            logger.info("refused a connection: %s", "bad token" if token else "no token")
            refusal = {
                "type": "hello_error",
                "code": "auth_required",
                "message": "a valid token is required" if token is None else "invalid token",
            }
            await send({"type": "websocket.send", "text": encode_json(refusal)})
            await send({"type": "websocket.close", "code": CloseCode.AUTH_REQUIRED})
        return principal

    async def _auth_frame(self, receive: Any) -> str | None:
        """Wait ``auth_timeout`` for a first ``auth`` frame and return its token."""
        try:
            message = await asyncio.wait_for(receive(), self.hub.config.limits.auth_timeout)
        except asyncio.TimeoutError:
            return None
        if message["type"] != "websocket.receive":
            return None
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", "replace")
        return self.hub.token_from_auth_frame(text)

    async def _read(self, session: Session, receive: Any) -> None:
        hub = self.hub
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                await hub.receive(session, text if text is not None else message.get("bytes", b""))
            elif kind == "websocket.disconnect":
                return

    @staticmethod
    async def _write(session: Session, send: Any) -> None:
        try:
            while True:
                await session.wait_outgoing()
                for text in session.drain():
                    await send({"type": "websocket.send", "text": text})
                if session.closing and not session.pending():
                    await send(
                        {
                            "type": "websocket.close",
                            "code": session.close_code,
                            "reason": session.close_reason,
                        }
                    )
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-send; the reader will notice
            logger.debug("send to %s failed: %r", session.session_id, exc)
