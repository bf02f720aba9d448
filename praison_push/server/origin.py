"""Origin and Host policy for every request a gateway serves (issue 13, finding 2).

A browser page of any site can open a WebSocket to, or ``POST`` to, a gateway
on ``127.0.0.1``; the browser says which site it is in the ``Origin`` header,
and a DNS-rebinding page reaches the gateway under a foreign ``Host``. So:

* ``Origin`` is checked on every WebSocket upgrade and every state-changing
  HTTP request (any method but ``GET``, ``HEAD`` and ``OPTIONS``). A request
  without ``Origin`` is not a browser page's and passes. An origin passes when
  it is the request's own (same ``Host``), or matches
  :attr:`~praison_push.config.AuthConfig.allowed_origins` (by default
  ``localhost``, ``127.0.0.1`` and ``[::1]`` on any port; ``"*"`` allows every
  origin and must be configured explicitly).
* ``Host`` is checked on every request that reached the gateway over a
  loopback address: it must name a loopback host (``localhost``, ``*.localhost``,
  a loopback IP) or one of :attr:`~praison_push.config.AuthConfig.allowed_hosts`
  (a reverse proxy on the same machine forwarding its public name).

:func:`refusal` is the one check; :meth:`~.websocket.WebSocketEndpoint.__call__`
applies it to every request before routing, so an HTTP route added to the
gateway's app is covered without doing anything. An ASGI adapter elsewhere
calls :func:`refusal` itself and answers with :func:`refuse`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..config import AuthConfig
from ..protocol import CloseCode, ErrorCode, encode_json

__all__ = ["SAFE_METHODS", "header", "is_loopback_host", "origin_allowed", "refusal", "refuse"]

logger = logging.getLogger("praison_push.server")

#: HTTP methods that change nothing, so a cross-origin page gains nothing by sending them
#: (it cannot read the answer: the gateway sends no CORS headers).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), decoded as Latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (no port, IPv6 without brackets) names this machine."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin, or ``None`` when it is not one."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _matches(pattern: str, origin: tuple[str, str, int]) -> bool:
    """Whether an ``allowed_origins`` entry (``scheme://host[:port|:*]``) admits ``origin``."""
    any_port = pattern.endswith(":*")
    wanted = _split_origin(pattern[:-2] if any_port else pattern)
    if wanted is None:
        return False
    scheme, host, port = origin
    return wanted[0] == scheme and wanted[1] == host and (any_port or wanted[2] == port)


def _same_origin(origin: tuple[str, str, int], host_header: str | None) -> bool:
    """Whether the page's origin is the request's own host and port."""
    if not host_header:
        return False
    scheme, host, port = origin
    secure = scheme in ("https", "wss")
    own = _split_origin(f"{'https' if secure else 'http'}://{host_header}")
    return own is not None and own[1:] == (host, port)


def origin_allowed(origin: str, host_header: str | None, config: AuthConfig) -> bool:
    """Whether a browser page of ``origin`` may use the gateway (see the module's rules)."""
    allowed = config.allowed_origins
    if "*" in allowed:
        return True
    if origin in allowed:  # "null" (sandboxed pages, files) only when listed as such
        return True
    parsed = _split_origin(origin)
    if parsed is None:
        return False
    if _same_origin(parsed, host_header):
        return True
    return any(_matches(pattern, parsed) for pattern in allowed)


def _host_allowed(scope: Mapping[str, Any], host_header: str | None, config: AuthConfig) -> bool:
    """Whether the ``Host`` of a request that reached a loopback address is a loopback name."""
    server = scope.get("server")
    if not server or not is_loopback_host(str(server[0])):
        return True  # reached over a public address: the Host check is for loopback only
    if "*" in config.allowed_hosts:
        return True
    if not host_header:
        return False
    parts = urlsplit(f"//{host_header}")
    name = (parts.hostname or "").lower()
    return is_loopback_host(name) or name in config.allowed_hosts


def refusal(scope: Mapping[str, Any], config: AuthConfig) -> str | None:
    """Why the request of ``scope`` is refused, or ``None`` when the policy admits it.

    Args:
        scope: The request's ASGI scope (``http`` or ``websocket``; others pass).
        config: The gateway's :class:`~praison_push.config.AuthConfig`.
    """
    kind = scope.get("type")
    if kind not in ("http", "websocket"):
        return None
    host_header = header(scope, b"host")
    if not _host_allowed(scope, host_header, config):
        return f"host {host_header!r} is not allowed (AuthConfig.allowed_hosts)"
    if kind == "http" and scope.get("method", "GET") in SAFE_METHODS:
        return None
    origin = header(scope, b"origin")
    if origin is None or origin_allowed(origin, host_header, config):
        return None
    return f"origin {origin!r} is not allowed (AuthConfig.allowed_origins)"


async def refuse(scope: Mapping[str, Any], receive: Any, send: Any, reason: str) -> None:
    """Refuse the request: HTTP 403 with an ``error`` body, or a refused upgrade (403)."""
    logger.info("refused a %s request: %s", scope.get("type"), reason)
    if scope["type"] == "websocket":
        message = await receive()
        if message["type"] == "websocket.connect":
            # Before the accept, a close refuses the handshake (HTTP 403).
            await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
        return
    body = encode_json({"type": "error", "code": ErrorCode.FORBIDDEN.value, "message": reason})
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body.encode())).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
