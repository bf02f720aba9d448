"""Plain-ASGI helpers shared by the ``/ws`` endpoint and the HTTP (SSE) routes.

Credentials and routing read the raw ASGI scope the same way for every
transport: a token from ``?token=`` or ``Authorization: Bearer``, the query
string, the path below the mount point, the peer address.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

__all__ = [
    "Scope",
    "bearer_token",
    "peer_of",
    "query_params",
    "redact_token",
    "request_headers",
    "route_path",
]

Scope = dict[str, Any]


def bearer_token(scope: Mapping[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header: str = value.decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


def request_headers(scope: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers for an :class:`~praison_push.hub.auth.AuthRequest`:
    lower-case names, the last value of a repeated one, ``authorization`` left out."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope.get("headers", ())
        if name != b"authorization"
    }


def query_params(scope: Mapping[str, Any]) -> dict[str, str]:
    """The query string's parameters (the last value of a repeated one)."""
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


def route_path(scope: Mapping[str, Any]) -> str:
    """The path below the app's mount point (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def peer_of(scope: Mapping[str, Any]) -> str:
    """The remote address (``""`` when the server does not say), for per-IP limits."""
    client = scope.get("client")
    return str(client[0]) if client else ""
