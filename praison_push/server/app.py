"""The ASGI application: routes onto the hub, mountable in any Starlette/FastAPI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from ..hub import Hub
from .asgi import redact_token
from .channel_sse import ChannelStream
from .logs import install_log_safety
from .metrics import MetricsEndpoint
from .poll import PollRoutes
from .poll_sessions import PollSessions
from .sse import ExecutionStream
from .ui_routes import ui_routes
from .websocket import WebSocketEndpoint

__all__ = ["AsgiApp", "create_app"]

#: What ``/health`` reports of :meth:`Hub.stats`.
_HEALTH_FIELDS = ("connections", "channels", "backend")


class AsgiApp(WebSocketEndpoint):
    """A gateway's ASGI app: ``/ws`` and ``/ws/{session_id}`` are served directly,
    everything else (health, SSE, the lifespan) by Starlette.

    Attributes:
        starlette: The Starlette app serving HTTP routes and the lifespan.
    """

    def __init__(self, hub: Hub, starlette: Starlette) -> None:
        super().__init__(hub, fallback=starlette)
        self.starlette = starlette


def create_app(hub: Hub) -> AsgiApp:
    """Build the gateway's ASGI app around ``hub``.

    The hub starts its upkeep on the first connection rather than in the
    lifespan, because Starlette does not run a mounted sub-app's lifespan;
    the lifespan here only closes the hub when the app itself is served.
    """

    install_log_safety(hub.config.limits.client_error_log_interval)

    async def health(request: Request) -> JSONResponse:
        redact_token(request.scope)  # open route: a ?token= is not read, nor logged
        stats = hub.stats()
        return JSONResponse({"status": "ok", **{key: stats[key] for key in _HEALTH_FIELDS}})

    polls = PollSessions(hub)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await hub.close()
        polls.close_all()

    routes = [
        *ui_routes(hub),  # AG-UI, the AI SDK UI message stream, run cancel
        Route("/health", health, methods=["GET"]),
        Route("/metrics", MetricsEndpoint(hub).handle, methods=["GET"]),
        Route(
            "/v1/agents/{agent_id}/execute/stream", ExecutionStream(hub).handle, methods=["POST"]
        ),
        # HTTP long-poll and the channel SSE stream (PROTOCOL.md §5).
        Mount("/api/push/poll", PollRoutes(hub, polls)),
        Route("/api/push/sse", ChannelStream(hub, polls).handle, methods=ChannelStream.METHODS),
    ]
    return AsgiApp(hub, Starlette(routes=routes, lifespan=lifespan))
