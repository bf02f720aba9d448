"""The delivery-store contract suite's kits: one per implementation, building fresh stores."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from praison_push.backends import (
    DeliveryStore,
    MemoryDeliveryStore,
    RedisDeliveryStore,
    SQLiteDeliveryStore,
)


@dataclass
class DeliveryKit:
    """Builds stores of one implementation; :meth:`store` again reaches the same data.

    Attributes:
        name: ``memory``, ``sqlite`` or ``redis``.
        same_data: Whether a second :meth:`store` sees what the first wrote
            (a file or a server), which is what survives a restart.
    """

    name: str
    same_data: bool
    _make: Callable[[], DeliveryStore]
    _opened: list[DeliveryStore] = field(default_factory=list)
    _cleanup: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    def store(self) -> DeliveryStore:
        store = self._make()
        self._opened.append(store)
        return store

    async def close(self) -> None:
        for store in reversed(self._opened):
            await store.close()
        for cleanup in self._cleanup:
            await cleanup()


def memory_kit() -> DeliveryKit:
    shared = MemoryDeliveryStore()
    # One process, one store: "another" store is the same object (nothing outlives it).
    return DeliveryKit("memory", False, lambda: shared)


def sqlite_kit(directory: Path) -> DeliveryKit:
    path = directory / "deliveries.db"
    return DeliveryKit("sqlite", True, lambda: SQLiteDeliveryStore(path))


def redis_kit(url: str) -> DeliveryKit:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"contract:{secrets.token_hex(4)}:"
    return DeliveryKit(
        "redis", True, lambda: RedisDeliveryStore(client, prefix), _cleanup=[client.aclose]
    )
