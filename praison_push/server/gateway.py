"""``Gateway``: a configured hub plus its backends and ASGI app, ready to serve."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..backends import MemoryBroker, MemoryHistoryStore
from ..config import GatewayConfig
from ..gateway import Hub

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["Gateway"]


class Gateway:
    """A praison_push gateway: build it from a config, then serve or mount it.

    Example::

        gateway = Gateway(GatewayConfig(auth=AuthConfig(tokens=["secret"])))
        app.mount("/push", gateway.asgi_app())   # inside any Starlette/FastAPI app

    Args:
        config: The configuration; defaults serve open on 127.0.0.1:8765.
    """

    def __init__(self, config: GatewayConfig | None = None) -> None:
        self.config = config or GatewayConfig()
        if self.config.push.redis is not None or self.config.push.delivery.store_backend == "redis":
            raise ValueError(
                "the Redis backend is not available in this version of praison_push; "
                "remove PushConfig.redis / DeliveryConfig(store_backend='redis')"
            )
        self.backend = "memory"
        self.hub = Hub(
            self.config,
            history=MemoryHistoryStore(self.config.history),
            broker=MemoryBroker(),
        )
        self._app: Starlette | None = None

    def __repr__(self) -> str:
        return f"<Gateway {self.config.host}:{self.config.port} backend={self.backend}>"

    def asgi_app(self) -> Starlette:
        """The ASGI app (built once): ``/ws`` and ``/health``."""
        if self._app is None:
            from .app import create_app

            self._app = create_app(self.hub, backend=self.backend)
        return self._app
