"""The ASGI application: routes onto the hub, mountable in any Starlette/FastAPI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from ..gateway import Hub
from .websocket import WebSocketEndpoint

__all__ = ["create_app"]


def create_app(hub: Hub, *, backend: str = "memory") -> Starlette:
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
        WebSocketRoute("/ws", WebSocketEndpoint(hub)),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
