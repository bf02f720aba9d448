"""``Gateway``: a configured hub plus its backends and ASGI app, ready to serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..backends import MemoryBroker, MemoryHistoryStore
from ..config import GatewayConfig
from ..gateway import Hub

if TYPE_CHECKING:
    from .app import GatewayApp

__all__ = ["Gateway"]

F = TypeVar("F", bound=Callable[..., Any])


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
        self.agents = self.hub.agents
        self._app: GatewayApp | None = None

    def __repr__(self) -> str:
        return f"<Gateway {self.config.host}:{self.config.port} backend={self.backend}>"

    def agent(self, name: str, *, description: str = "") -> Callable[[F], F]:
        """Decorator registering an agent: ``@gateway.agent("summarise")``."""
        return self.agents.agent(name, description=description)

    def register_agent(self, name: str, agent: Any, *, description: str = "") -> None:
        """Register any callable, (async) generator or ``praisonaiagents.Agent``."""
        self.agents.register(name, agent, description=description)

    def asgi_app(self) -> GatewayApp:
        """The ASGI app (built once): ``/ws``, ``/ws/{session_id}``, SSE runs and ``/health``."""
        if self._app is None:
            from .app import create_app

            self._app = create_app(self.hub, backend=self.backend)
        return self._app
