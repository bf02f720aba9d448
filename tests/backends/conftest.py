"""The backend contract suite's factory: one param per implementation.

Every test in ``test_contract_*.py`` runs against each kit below: memory, and
Redis on a spawned ``redis-server`` (each kit under its own key prefix). To add
an implementation, add a param and build its kit in :func:`backend`; a kit that
cannot follow an injected clock sets ``controls_clock=False`` and the expiry
tests skip for it (the Redis store takes the clock too, so none skip today).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from support import timeout

from praison_push.backends import (
    Broker,
    HistoryStore,
    MemoryBroker,
    MemoryHistoryStore,
    RedisBroker,
    RedisHistoryStore,
)
from praison_push.config import HistoryConfig


class FakeClock:
    """A settable wall clock: ``clock()`` reads it, ``advance()`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class BackendKit:
    """Builds fresh stores of one implementation and cleans them up."""

    name: str
    clock: FakeClock
    controls_clock: bool
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


def _memory_kit() -> BackendKit:
    return BackendKit(
        name="memory",
        clock=FakeClock(),
        controls_clock=True,
        _history=lambda config, clock: MemoryHistoryStore(config, clock=clock),
        _broker=MemoryBroker,
    )


def _redis_kit(url: str) -> BackendKit:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"contract:{secrets.token_hex(4)}:"
    clock = FakeClock()
    return BackendKit(
        name="redis",
        clock=clock,
        controls_clock=True,
        _history=lambda config, clock: RedisHistoryStore(client, prefix, config, clock=clock),
        _broker=lambda: RedisBroker(client, prefix),
        _cleanup=[client.aclose],
    )


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[BackendKit]:
    """A kit for each backend implementation under contract."""
    if request.param == "redis":
        kit = _redis_kit(request.getfixturevalue("redis_server").url)
    else:
        kit = _memory_kit()
    try:
        yield kit
    finally:
        await kit.close()


async def wait_until(predicate: Callable[[], bool], seconds: float = 2.0) -> None:
    """Poll ``predicate`` until true, failing after ``seconds`` (scaled)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout(seconds))
