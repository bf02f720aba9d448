"""The ASGI front of the gateway (WebSocket, health) and its uvicorn runners."""

from __future__ import annotations

from ..config import GatewayConfig
from .gateway import Gateway
from .inprocess import InProcessGateway, running_gateways, start_in_process
from .runner import GatewayThread, bind_socket, run_gateway

__all__ = [
    "Gateway",
    "GatewayConfig",
    "GatewayThread",
    "InProcessGateway",
    "bind_socket",
    "run_gateway",
    "running_gateways",
    "start_in_process",
]
