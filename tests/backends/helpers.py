"""The backend contract suite's kits: one per implementation, building fresh stores."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from support import FakeClock

from praison_push.backends import (
    Broker,
    HistoryStore,
    MemoryBroker,
    MemoryHistoryStore,
    RedisBroker,
    RedisHistoryStore,
)
from praison_push.config import HistoryConfig


@dataclass
class BackendKit:
    """Builds fresh stores of one implementation and cleans them up."""

    name: str
    clock: FakeClock
    controls_clock: bool
    #: History lives in a server the store only talks to (Redis): closing a store
    #: releases its connection, and the history stays for the other stores.
    history_outlives_store: bool
    _history: Callable[[HistoryConfig, FakeClock], HistoryStore]
    _broker: Callable[[], Broker]
    _opened: list[HistoryStore | Broker] = field(default_factory=list)
    _cleanup: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def history(self, **config: Any) -> HistoryStore:
        """A new, empty history store with ``HistoryConfig(**config)``."""
        store = self._history(HistoryConfig(**config), self.clock)
        self._opened.append(store)
        return store

    def broker(self) -> Broker:
        broker = self._broker()
        self._opened.append(broker)
        return broker

    async def close(self) -> None:
        for item in reversed(self._opened):
            await item.close()
        for cleanup in self._cleanup:
            await cleanup()


def memory_kit() -> BackendKit:
    return BackendKit(
        name="memory",
        clock=FakeClock(),
        controls_clock=True,
        history_outlives_store=False,
        _history=lambda config, clock: MemoryHistoryStore(config, clock=clock),
        _broker=MemoryBroker,
    )


def redis_kit(url: str) -> BackendKit:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"contract:{secrets.token_hex(4)}:"
    clock = FakeClock()
    return BackendKit(
        name="redis",
        clock=clock,
        controls_clock=True,
        history_outlives_store=True,
        _history=lambda config, clock: RedisHistoryStore(client, prefix, config, clock=clock),
        _broker=lambda: RedisBroker(client, prefix),
        _cleanup=[client.aclose],
    )
