"""Storage and transport backends behind the hub: memory, and Redis for scale-out.

Importing this package does not import ``redis``: the Redis classes need it only
when they are built (``pip install praison-push[redis]``).
"""

from __future__ import annotations

from .base import (
    BackendUnavailableError,
    Broker,
    DedupStore,
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryChange,
    DeliveryRescheduled,
    DeliveryStore,
    HistoryRead,
    HistoryStore,
    PendingDelivery,
    PresenceStore,
    PublicationHandler,
    ReconnectHandler,
)
from .memory import MemoryBroker, MemoryHistoryStore
from .memory_delivery import MemoryDeliveryStore
from .memory_presence import MemoryPresenceStore
from .redis import RedisBroker, RedisHistoryStore
from .redis_dedup import RedisDedupStore
from .redis_delivery import RedisDeliveryStore
from .redis_presence import RedisPresenceStore
from .sqlite_dedup import SQLiteDedupStore
from .sqlite_delivery import SQLiteDeliveryStore

__all__ = [
    "BackendUnavailableError",
    "Broker",
    "DedupStore",
    "DeliveriesRecorded",
    "DeliveriesSettled",
    "DeliveryChange",
    "DeliveryRescheduled",
    "DeliveryStore",
    "HistoryRead",
    "HistoryStore",
    "MemoryBroker",
    "MemoryDeliveryStore",
    "MemoryHistoryStore",
    "MemoryPresenceStore",
    "PendingDelivery",
    "PresenceStore",
    "PublicationHandler",
    "ReconnectHandler",
    "RedisBroker",
    "RedisDedupStore",
    "RedisDeliveryStore",
    "RedisHistoryStore",
    "RedisPresenceStore",
    "SQLiteDedupStore",
    "SQLiteDeliveryStore",
]
