"""Kits of the presence and de-dup contract suites: one per implementation of each seam."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from praison_push.backends import MemoryPresenceStore, PresenceStore, RedisPresenceStore

S = TypeVar("S")


@dataclass
class SharedKit(Generic[S]):
    """Builds stores of one implementation; every :meth:`store` reaches the same data
    (as two gateways sharing it would).

    Attributes:
        name: ``memory``, ``sqlite`` or ``redis``.
    """

    name: str
    _make: Callable[[], S]
    _opened: list[Any] = field(default_factory=list)
    _cleanup: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def store(self) -> S:
        store = self._make()
        self._opened.append(store)
        return store

    async def close(self) -> None:
        for store in reversed(self._opened):
            await store.close()
        for cleanup in self._cleanup:
            await cleanup()


def memory_presence() -> SharedKit[PresenceStore]:
    shared = MemoryPresenceStore()
    return SharedKit("memory", lambda: shared)


def redis_presence(url: str) -> SharedKit[PresenceStore]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"contract:{secrets.token_hex(4)}:"
    return SharedKit("redis", lambda: RedisPresenceStore(client, prefix), _cleanup=[client.aclose])
