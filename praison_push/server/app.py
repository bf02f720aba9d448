"""The ASGI application: routes onto the hub, mountable in any Starlette/FastAPI app."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..gateway import Hub
from .sse import ExecutionStream
from .websocket import WebSocketEndpoint

__all__ = ["GatewayApp", "create_app"]

_SESSION_PATH = re.compile(r"^/ws/([A-Za-z0-9_.:@-]{1,128})$")


class GatewayApp:
    """The gateway's ASGI app: WebSockets go straight to the endpoint, the rest to Starlette.

    A WebSocket lives for hours; routed through Starlette's middleware stack it
    would pin that stack's coroutine frames (about 2 KB) for its whole life.
    The front matches ``/ws`` and ``/ws/{session_id}`` itself, relative to
    ``root_path``, so the app still mounts anywhere.

    Attributes:
        starlette: The Starlette app serving HTTP routes and the lifespan.
    """

    def __init__(self, hub: Hub, starlette: Starlette) -> None:
        self.hub = hub
        self.starlette = starlette
        self._websocket = WebSocketEndpoint(hub)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            path = _route_path(scope)
            if path == "/ws":
                await self._websocket(scope, receive, send)
                return
            match = _SESSION_PATH.match(path)
            if match is not None:
                scope["path_params"] = {"session_id": match.group(1)}
                await self._websocket(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def _route_path(scope: dict[str, Any]) -> str:
    """The path below the app's mount point (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def create_app(hub: Hub, *, backend: str = "memory") -> GatewayApp:
    """Build the gateway's ASGI app around ``hub``.

    The hub starts its upkeep on the first connection rather than in the
    lifespan, because Starlette does not run a mounted sub-app's lifespan;
    the lifespan here only closes the hub when the app itself is served.
    """

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "connections": len(hub.sessions),
                "channels": len(hub.channels),
                "backend": backend,
            }
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await hub.close()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route(
            "/v1/agents/{agent_id}/execute/stream", ExecutionStream(hub).handle, methods=["POST"]
        ),
    ]
    return GatewayApp(hub, Starlette(routes=routes, lifespan=lifespan))
