"""The agent-UI routes: AG-UI, the AI SDK UI message stream, and run cancel."""

from __future__ import annotations

from starlette.routing import Route

from ..hub import Hub
from .agui_adapter import AguiProtocol
from .ai_sdk_adapter import AiSdkProtocol
from .ui_streams import UiStreams

__all__ = ["ui_routes"]


def ui_routes(hub: Hub) -> list[Route]:
    """``POST /v1/agents/{agent_id}/ag-ui`` and ``/ai-sdk``, their
    ``.../runs/{run_id}/stream`` reopeners and ``.../{chat_id}/stream`` reconnects
    (``useChat``'s ``resume``), and ``POST /v1/runs/{run_id}/cancel``."""
    routes: list[Route] = []
    streams = [UiStreams(hub, AguiProtocol()), UiStreams(hub, AiSdkProtocol())]
    for stream in streams:
        base = f"/v1/agents/{{agent_id}}/{stream.protocol.name}"
        routes.append(Route(base, stream.post, methods=["POST"]))
        routes.append(Route(f"{base}/runs/{{run_id}}/stream", stream.get, methods=["GET"]))
        routes.append(Route(f"{base}/{{chat_id}}/stream", stream.reconnect, methods=["GET"]))
    routes.append(Route("/v1/runs/{run_id}/cancel", streams[0].cancel, methods=["POST"]))
    return routes
