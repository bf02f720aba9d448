"""``Gateway``: a configured hub plus its backends and ASGI app, ready to serve.

With ``PushConfig(redis=RedisConfig(...))`` the hub runs on the Redis backends,
so any number of gateways on one Redis share history and publications
(DESIGN.md, Scale-out); otherwise on the in-process memory backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..backends import Broker, HistoryStore, MemoryBroker, MemoryHistoryStore, RedisBroker
from ..config import GatewayConfig
from ..hub import Hub
from ..protocol import CloseCode

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

    Raises:
        ValueError: ``DeliveryConfig(store_backend="redis")`` without ``PushConfig.redis``.
        ConnectionError: ``PushConfig.redis`` is set but Redis does not answer.
    """

    def __init__(self, config: GatewayConfig | None = None) -> None:
        self.config = config or GatewayConfig()
        history, broker, self.backend = _backends(self.config)
        self.hub = Hub(self.config, history=history, broker=broker)
        if isinstance(broker, RedisBroker):
            broker.on_reconnect = self._resync
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

    def _resync(self) -> None:
        """The broker reconnected to Redis: publications made meanwhile never reached us.

        Subscribed connections are closed with 1001, so their clients reconnect,
        resubscribe with ``since`` and recover the gap from history (or learn
        ``recovered: false``) — never a silent gap (PROTOCOL.md §3).
        """
        for session in list(self.hub.sessions.values()):
            if session.subscriptions:
                session.close(CloseCode.GOING_AWAY, "missed publications while Redis was away")

    def asgi_app(self) -> GatewayApp:
        """The ASGI app (built once): ``/ws``, ``/ws/{session_id}``, SSE runs and ``/health``."""
        if self._app is None:
            from .app import create_app

            self._app = create_app(self.hub, backend=self.backend)
        return self._app


def _backends(config: GatewayConfig) -> tuple[HistoryStore, Broker, str]:
    """The history store, broker and backend name (``/health``) ``config`` asks for."""
    push = config.push
    if push.redis is None:
        if push.delivery.store_backend == "redis":
            raise ValueError(
                "DeliveryConfig.store_backend='redis' needs PushConfig.redis "
                "(a RedisConfig saying which Redis to use); set it, or use "
                "store_backend='memory'"
            )
        return MemoryHistoryStore(config.history), MemoryBroker(), "memory"
    from ..backends.redis import create_redis_backends

    history, broker = create_redis_backends(push.redis, config.history)
    return history, broker, "redis"
