"""Who is calling an HTTP route: one login for every HTTP route of the gateway.

The SSE run route, the agent-UI streams, the long-poll routes and the channel
SSE stream all take a token the way ``/ws`` does (``?token=`` or
``Authorization: Bearer``) and log in through :meth:`Hub.login`, so the
gateway's ``authenticate`` hook, JWT checks and the auth-failure metric apply to
each of them alike. The ``?token=`` is removed from the scope once read, so the
host app's access log never shows it.
"""

from __future__ import annotations

from starlette.requests import Request

from ..hub import Hub
from ..hub.auth import AuthError, AuthRequest
from ..hub.principal import Principal
from ..protocol import ErrorCode, FrameError
from .asgi import bearer_token, peer_of, redact_token, request_headers, route_path

__all__ = ["http_login"]


def http_login(hub: Hub, request: Request, transport: str) -> Principal:
    """The principal of ``request``'s token.

    Raises:
        FrameError: ``unauthorized``, with a message that is safe to send back
            (a missing token, a refused one, an expired one).
    """
    scope = request.scope
    token = request.query_params.get("token") or bearer_token(scope)
    redact_token(scope)
    where = AuthRequest(transport, peer_of(scope), route_path(scope), request_headers(scope))
    try:
        return hub.login(token, where)
    except AuthError as exc:
        message = "a valid token is required" if exc.code == "auth_required" else str(exc)
        raise FrameError(ErrorCode.UNAUTHORIZED, message) from None
