"""Authentication on an open connection: a later ``auth`` frame, and ``auth.refresh``.

A connection's identity (user and organisation) never changes; a new token
for the same identity replaces the connection's principal, so its new expiry
(and permissions) apply from then on (SECURITY.md, "Identities").
"""

from __future__ import annotations

from typing import Any

from ..protocol import ErrorCode, FrameError
from ..protocol import frames as f
from .auth import AuthError
from .connection import Connection
from .handshake import refusal
from .node import Node
from .principal import Principal

__all__ = ["on_auth", "on_refresh"]


def _same_identity(connection: Connection, principal: Principal) -> None:
    if principal != connection.principal:
        raise FrameError(
            ErrorCode.FORBIDDEN,
            "the token is for another identity (reconnect to change identity)",
            field="token",
        )


async def on_auth(node: Node, connection: Connection, frame: f.AuthFrame) -> None:
    """An ``auth`` frame on an open connection: re-check the token, then greet.

    The token may already have come with the upgrade (or not be needed); a
    token that is given must still be valid, and of the same identity (it then
    replaces the connection's, as ``auth.refresh`` does).
    """
    if node.auth.required:
        try:
            principal = node.auth.login(frame.token)
        except AuthError as exc:
            text, code = refusal(connection.dialect, str(exc), exc.code)
            connection.send_text(text)
            connection.close(code, str(exc))
            return
        _same_identity(connection, principal)
        connection.principal = principal
    node.greet(connection, frame.ref)


async def on_refresh(node: Node, connection: Connection, frame: f.AuthRefreshFrame) -> None:
    """A fresh token for the same identity: the connection goes on with it.

    A token that is refused, or stands for someone else, is an ``error``
    (``unauthorized``/``forbidden``); the connection keeps its current token
    until that expires.
    """
    try:
        principal = node.auth.login(frame.token)
    except AuthError as exc:
        raise FrameError(ErrorCode.UNAUTHORIZED, str(exc), field="token") from None
    _same_identity(connection, principal)
    connection.principal = principal
    reply: dict[str, Any] = {"type": "auth.refreshed", "ok": True}
    if principal.expires_at is not None:
        reply["expires_at"] = principal.expires_at
    if frame.ref is not None:
        reply["ref"] = frame.ref
    connection.send(reply)
