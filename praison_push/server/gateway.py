"""``Gateway``: a configured hub plus its backends and ASGI app, ready to serve.

With ``PushConfig(redis=RedisConfig(...))`` the hub runs on the Redis backends,
so any number of gateways on one Redis share history and publications
(docs/ARCHITECTURE.md, "Scale-out"); otherwise on the in-process memory backends.
Pending deliveries (``DeliveryConfig.store_backend``) live in memory, in a
SQLite file, or in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..agents import AgentRegistry, register_demo_agents
from ..backends import (
    Broker,
    DedupStore,
    DeliveryStore,
    HistoryStore,
    MemoryBroker,
    MemoryDeliveryStore,
    MemoryHistoryStore,
    PresenceStore,
)
from ..config import GatewayConfig
from ..hub import Hub
from ..hub.auth import AuthenticateHook
from ..hub.permissions import AuthorizeHook

if TYPE_CHECKING:
    from .app import AsgiApp

__all__ = ["Gateway"]

F = TypeVar("F", bound=Callable[..., Any])


class Gateway:
    """A praison_push gateway: build it from a config, then serve or mount it.

    Example::

        gateway = Gateway(GatewayConfig(auth=AuthConfig(tokens=["secret"])))
        app.mount("/push", gateway.asgi_app())   # inside any Starlette/FastAPI app

    Args:
        config: The configuration; defaults serve open on 127.0.0.1:8765.
        authenticate: Your own token check, ``authenticate(token, request) ->
            Principal | None`` (:data:`~praison_push.hub.auth.AuthenticateHook`),
            which then decides alone who connects.
        authorize: Your own channel rule, ``authorize(principal, action, channel)
            -> bool | None`` (:data:`~praison_push.hub.permissions.AuthorizeHook`).

    Raises:
        ValueError: ``DeliveryConfig(store_backend="redis")`` without ``PushConfig.redis``,
            or a SQLite ``store_path`` that cannot be opened.
        ConnectionError: ``PushConfig.redis`` is set but Redis does not answer.
    """

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        authenticate: AuthenticateHook | None = None,
        authorize: AuthorizeHook | None = None,
    ) -> None:
        self.config = config or GatewayConfig()
        history, broker = _backends(self.config)
        delivery = _delivery_store(self.config, history)
        presence = _presence_store(self.config, history)
        dedup = _dedup_store(self.config, history, delivery)
        self.backend = broker.name
        self.agents = AgentRegistry()
        if self.config.demo_agents:
            register_demo_agents(self.agents)
        self.hub = Hub(
            self.config,
            history=history,
            broker=broker,
            agents=self.agents,
            delivery=delivery,
            authenticate=authenticate,
            authorize=authorize,
            presence_store=presence,
            dedup=dedup,
        )
        # Publications made while the broker was away never reached this node:
        # its subscribers reconnect and recover them from history.
        broker.on_reconnect = self.hub.resync
        self._app: AsgiApp | None = None

    def __repr__(self) -> str:
        return f"<Gateway {self.config.host}:{self.config.port} backend={self.backend}>"

    def agent(self, name: str, *, description: str = "") -> Callable[[F], F]:
        """Decorator registering an agent: ``@gateway.agent("summarise")``."""
        return self.agents.agent(name, description=description)

    def register_agent(self, name: str, agent: Any, *, description: str = "") -> None:
        """Register any callable, (async) generator or ``praisonaiagents.Agent``."""
        self.agents.register(name, agent, description=description)

    def asgi_app(self) -> AsgiApp:
        """The ASGI app (built once): ``/ws``, ``/ws/{session_id}``, SSE runs and ``/health``."""
        if self._app is None:
            from .app import create_app

            self._app = create_app(self.hub)
        return self._app


def _backends(config: GatewayConfig) -> tuple[HistoryStore, Broker]:
    """The history store and broker ``config`` asks for."""
    push = config.push
    if push.redis is None:
        if push.delivery.store_backend == "redis":
            raise ValueError(
                "DeliveryConfig.store_backend='redis' needs PushConfig.redis "
                "(a RedisConfig saying which Redis to use); set it, or use "
                "store_backend='memory'"
            )
        return MemoryHistoryStore(config.history), MemoryBroker()
    try:
        from ..backends.redis import create_redis_backends

        return create_redis_backends(push.redis, config.history)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "redis":
            raise
        raise ModuleNotFoundError(
            "PushConfig.redis needs the redis extra: pip install 'praison-push[redis]'",
            name=exc.name,
        ) from None


def _delivery_store(config: GatewayConfig, history: HistoryStore) -> DeliveryStore | None:
    """The store of pending deliveries ``DeliveryConfig`` asks for (``None``: not tracking)."""
    push = config.push
    delivery = push.delivery
    if not (push.enabled and delivery.enabled):
        return None
    if delivery.store_backend == "sqlite":
        from ..backends.sqlite_delivery import SQLiteDeliveryStore

        assert delivery.store_path is not None  # DeliveryConfig checks it
        return SQLiteDeliveryStore(delivery.store_path)
    if delivery.store_backend == "redis":
        from ..backends.redis import RedisHistoryStore
        from ..backends.redis_delivery import RedisDeliveryStore

        assert push.redis is not None and isinstance(history, RedisHistoryStore)
        return RedisDeliveryStore(history.client, push.redis.prefix)
    return MemoryDeliveryStore()


def _presence_store(config: GatewayConfig, history: HistoryStore) -> PresenceStore | None:
    """Presence shared by the gateways on one Redis (``None``: each gateway's own)."""
    if config.push.redis is None:
        return None
    from ..backends.redis import RedisHistoryStore
    from ..backends.redis_presence import RedisPresenceStore

    assert isinstance(history, RedisHistoryStore)
    return RedisPresenceStore(history.client, config.push.redis.prefix)


def _dedup_store(
    config: GatewayConfig, history: HistoryStore, delivery: DeliveryStore | None
) -> DedupStore | None:
    """Where the publish de-duplication window lives: Redis (every gateway), the SQLite
    delivery store's file (every restart), else the hub's own memory (``None``)."""
    if config.push.redis is not None:
        from ..backends.redis import RedisHistoryStore
        from ..backends.redis_dedup import RedisDedupStore

        assert isinstance(history, RedisHistoryStore)
        return RedisDedupStore(history.client, config.push.redis.prefix)
    from ..backends.sqlite_delivery import SQLiteDeliveryStore

    if isinstance(delivery, SQLiteDeliveryStore):
        from ..backends.sqlite_dedup import SQLiteDedupStore

        return SQLiteDedupStore(delivery)
    return None
