"""The ASGI front of the gateway (WebSocket, health) and its uvicorn runners."""

from __future__ import annotations

from .gateway import Gateway
from .runner import GatewayThread, bind_socket, run_gateway

__all__ = ["Gateway", "GatewayThread", "bind_socket", "run_gateway"]
