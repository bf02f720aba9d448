"""The opening of a connection: dialect, credentials, greeting and refusal.

Pure functions (no I/O, no hub state), shared by every transport: the
WebSocket endpoint decides with them how a connection opens, and the hub
greets with them (PROTOCOL.md §1). A token may come with the upgrade
(``?token=``, ``Authorization: Bearer``) or in a first ``auth`` frame (native
``token`` or envelope ``payload.token``); an envelope client is greeted with
``auth_success`` only in answer to its ``auth`` frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..protocol import PROTOCOL_VERSION, CloseCode, FrameError, encode_json
from ..protocol.codec import decode_object
from ..protocol.dialects import (
    Dialect,
    detect_dialect,
    envelope_auth_error,
    envelope_auth_success,
)
from .connection import Connection

__all__ = [
    "Opening",
    "UnknownDialect",
    "detect",
    "greeting",
    "greeting_frame",
    "needs_first_frame",
    "opening",
    "refusal",
    "requested_dialect",
    "token_from_auth_frame",
    "valid_client_id",
]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_ENVELOPE = Dialect.ENVELOPE.value


class UnknownDialect(ValueError):
    """``?protocol=`` named no dialect this gateway speaks (the upgrade is refused)."""


def valid_client_id(client_id: str | None) -> bool:
    """Whether a client may keep the ``client_id`` it asked for (others get a fresh one)."""
    return client_id is not None and _CLIENT_ID.match(client_id) is not None


def requested_dialect(protocol: str | None, conversation_id: str | None) -> str | None:
    """The dialect fixed at the upgrade: ``?protocol=``, else agent-chat for
    ``/ws/{session_id}``; ``None`` lets the first frame decide.

    Raises:
        UnknownDialect: ``protocol`` names no dialect.
    """
    requested = protocol or ("agent-chat" if conversation_id else None)
    if requested is None:
        return None
    chosen = detect_dialect(requested, None)
    if chosen is None:
        raise UnknownDialect(requested)
    return chosen.value


def needs_first_frame(token: str | None, dialect: str | None, auth_required: bool) -> bool:
    """Whether the opening waits for a first frame: it may carry the token, and an
    envelope client is greeted only in answer to its ``auth``."""
    return token is None and (auth_required or dialect == _ENVELOPE)


def detect(text: str | bytes, max_size: int) -> str:
    """The dialect a connection's first frame implies (PROTOCOL.md §1)."""
    try:
        obj = decode_object(text, max_size=max_size)
    except FrameError:
        return Dialect.PRAISON.value
    return (detect_dialect(None, obj) or Dialect.PRAISON).value


def token_from_auth_frame(text: str | bytes, max_size: int) -> str | None:
    """The token of a first-frame ``auth`` (native ``token`` or envelope ``payload.token``)."""
    try:
        obj = decode_object(text, max_size=max_size)
    except FrameError:
        return None
    if obj.get("type") != "auth":
        return None
    token = obj.get("token")
    payload = obj.get("payload")
    if token is None and isinstance(payload, dict):
        token = payload.get("token")
    return token if isinstance(token, str) else None


@dataclass(frozen=True)
class Opening:
    """How a connection opens, once its credentials are known.

    Attributes:
        token: The token presented (``None``: none).
        dialect: The dialect, when known (``None``: the first frame will decide).
        first: A first frame still to be handled as an ordinary frame.
        greet: Whether to greet now (an envelope client only after its ``auth``).
    """

    token: str | None
    dialect: str | None
    first: str | bytes | None
    greet: bool


def opening(
    token: str | None, dialect: str | None, first: str | bytes | None, max_size: int
) -> Opening:
    """Combine the upgrade's token and dialect with the first frame, if one was read.

    A first frame carrying a token is the authentication (answered by the
    greeting); any other first frame fixes the dialect and is handled as an
    ordinary frame once the connection is open.
    """
    answered_auth = False
    if first is not None:
        if dialect is None:
            dialect = detect(first, max_size)
        if token is None:
            token = token_from_auth_frame(first, max_size)
            if token is not None:
                first, answered_auth = None, True
    greet = dialect != _ENVELOPE or answered_auth
    return Opening(token, dialect, first, greet)


def greeting_frame(
    connection: Connection,
    *,
    server_id: str,
    heartbeat_interval: int,
    max_message_size: int,
    ref: Any = None,
) -> dict[str, Any]:
    """The native ``connected`` frame (PROTOCOL.md §1)."""
    frame: dict[str, Any] = {
        "type": "connected",
        "client_id": connection.client_id,
        "server_id": server_id,
        "protocol": PROTOCOL_VERSION,
        "heartbeat_interval": heartbeat_interval,
        "resumed": False,
        # ★ So a client can refuse an oversized frame itself, with a clear error,
        # instead of sending it and being closed with 1009.
        "max_message_size": max_message_size,
    }
    if ref is not None:
        frame["ref"] = ref
    return frame


def greeting(
    connection: Connection,
    *,
    server_id: str,
    heartbeat_interval: int,
    max_message_size: int,
    ref: Any = None,
) -> tuple[str, ...]:
    """The greeting, encoded in the connection's dialect: ``connected``, or the
    envelope's ``auth_success``."""
    if connection.dialect == _ENVELOPE:
        principal = connection.principal
        success = envelope_auth_success(
            principal.user_id, principal.org_id, connection.connection_id
        )
        return (encode_json(success),)
    frame = greeting_frame(
        connection,
        server_id=server_id,
        heartbeat_interval=heartbeat_interval,
        max_message_size=max_message_size,
        ref=ref,
    )
    return connection.encode(frame)


def refusal(dialect: str | None, message: str, code: str = "auth_required") -> tuple[str, int]:
    """The refusal frame (text) and close code for a failed authentication.

    ``code`` is an :class:`~.auth.AuthError`'s: an expired token is
    ``token_expired`` and closes with 4001 in every dialect (the envelope's
    ``auth_error`` says ``TOKEN_EXPIRED``); other refusals close an envelope
    client with 4001 and a native one with 4003, as before.
    """
    expired = code == "token_expired"
    if dialect == _ENVELOPE:
        error = envelope_auth_error(message)
        if expired:
            error["payload"]["code"] = "TOKEN_EXPIRED"
        return encode_json(error), CloseCode.AUTH_FAILED
    frame = {
        "type": "hello_error",
        "code": "token_expired" if expired else "auth_required",
        "message": message,
    }
    return encode_json(frame), CloseCode.AUTH_FAILED if expired else CloseCode.AUTH_REQUIRED
