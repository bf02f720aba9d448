"""Kits of the presence and de-dup contract suites: one per implementation of each seam."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from praison_push.backends import (
    DedupStore,
    MemoryPresenceStore,
    PresenceStore,
    RedisDedupStore,
    RedisPresenceStore,
    SQLiteDedupStore,
    SQLiteDeliveryStore,
)
from praison_push.hub.dedup import DedupWindow

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


def memory_dedup() -> SharedKit[DedupStore]:
    shared = DedupWindow(window=120.0)
    # One process, one window: "another" gateway's is the same object.
    return SharedKit("memory", lambda: shared)


def sqlite_dedup(directory: Path) -> SharedKit[DedupStore]:
    """Each store opens the file anew: a later incarnation of the gateway."""
    path = directory / "deliveries.db"
    files: list[SQLiteDeliveryStore] = []

    def make() -> DedupStore:
        files.append(SQLiteDeliveryStore(path))
        return SQLiteDedupStore(files[-1])

    async def close_files() -> None:
        for store in files:
            await store.close()

    return SharedKit("sqlite", make, _cleanup=[close_files])


def redis_dedup(url: str) -> SharedKit[DedupStore]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"contract:{secrets.token_hex(4)}:"
    return SharedKit("redis", lambda: RedisDedupStore(client, prefix), _cleanup=[client.aclose])
