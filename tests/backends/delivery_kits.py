"""The delivery-store contract suite's kits: one per implementation, building fresh stores."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from praison_push.backends import (
    DeliveryStore,
    MemoryDeliveryStore,
    RedisDeliveryStore,
    SQLiteDeliveryStore,
)

from .shared_kits import SharedKit


@dataclass
class DeliveryKit(SharedKit[DeliveryStore]):
    """Builds delivery stores of one implementation; :meth:`store` again reaches the
    same data.

    Attributes:
        same_data: Whether a second :meth:`store` sees what the first wrote
            (a file or a server), which is what survives a restart.
    """

    same_data: bool = field(default=False, kw_only=True)


def memory_kit() -> DeliveryKit:
    shared = MemoryDeliveryStore()
    # One process, one store: "another" store is the same object (nothing outlives it).
    return DeliveryKit("memory", lambda: shared, same_data=False)


def sqlite_kit(directory: Path) -> DeliveryKit:
    path = directory / "deliveries.db"
    return DeliveryKit("sqlite", lambda: SQLiteDeliveryStore(path), same_data=True)


def redis_kit(url: str) -> DeliveryKit:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    prefix = f"contract:{secrets.token_hex(4)}:"
    return DeliveryKit(
        "redis",
        lambda: RedisDeliveryStore(client, prefix),
        _cleanup=[client.aclose],
        same_data=True,
    )
