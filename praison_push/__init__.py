"""praison_push: real-time push for Python — channels, presence, agent runs, Jupyter.

``import praison_push`` is cheap: the client, the gateway (uvicorn, Starlette)
and the notebook layer are imported on first use of their names.

Example::

    from praison_push import PushClient          # async, seed-compatible
    client = PushClient("ws://127.0.0.1:8765/ws")
    await client.connect()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import (
    AuthConfig,
    DeliveryConfig,
    GatewayConfig,
    HistoryConfig,
    LimitsConfig,
    PollingConfig,
    PresenceConfig,
    PushConfig,
    RedisConfig,
    RunsConfig,
    TokenGrant,
)
from .protocol import (
    AuthenticationFailed,
    ConnectionClosedError,
    ExecutionFailed,
    FrameError,
    NotConnectedError,
    PushError,
    RequestRefused,
    TransportError,
)

if TYPE_CHECKING:
    from .client import (
        AsyncPushClient,
        ChannelMessage,
        PollingTransport,
        PresenceInfo,
        PublishReceipt,
        PushClient,
        PushTransportProtocol,
        WebSocketTransport,
    )
    from .notebook import start_gateway
    from .server import Gateway, GatewayThread

__version__ = "0.1.0"

_LAZY = {
    "AsyncPushClient": "praison_push.client",
    "ChannelMessage": "praison_push.client",
    "PollingTransport": "praison_push.client",
    "PresenceInfo": "praison_push.client",
    "PublishReceipt": "praison_push.client",
    "PushClient": "praison_push.client",
    "PushTransportProtocol": "praison_push.client",
    "WebSocketTransport": "praison_push.client",
    "Gateway": "praison_push.server",
    "GatewayThread": "praison_push.server",
    "start_gateway": "praison_push.notebook",
}

__all__ = [
    "AsyncPushClient",
    "AuthConfig",
    "AuthenticationFailed",
    "ChannelMessage",
    "ConnectionClosedError",
    "DeliveryConfig",
    "ExecutionFailed",
    "FrameError",
    "Gateway",
    "GatewayConfig",
    "GatewayThread",
    "HistoryConfig",
    "LimitsConfig",
    "NotConnectedError",
    "PollingConfig",
    "PollingTransport",
    "PresenceConfig",
    "PresenceInfo",
    "PublishReceipt",
    "PushClient",
    "PushConfig",
    "PushError",
    "PushTransportProtocol",
    "RedisConfig",
    "RequestRefused",
    "RunsConfig",
    "TokenGrant",
    "TransportError",
    "WebSocketTransport",
    "__version__",
    "load_ipython_extension",
    "start_gateway",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext praison_push``: register the ``%push`` / ``%%push`` magics."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'praison_push' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
