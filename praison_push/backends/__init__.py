"""Storage and transport backends behind the hub: memory, and Redis for scale-out.

Importing this package does not import ``redis``: the Redis classes need it only
when they are built (``pip install praison-push[redis]``).
"""

from __future__ import annotations

from .base import (
    BackendUnavailableError,
    Broker,
    HistoryRead,
    HistoryStore,
    PublicationHandler,
    ReconnectHandler,
)
from .memory import MemoryBroker, MemoryHistoryStore
from .redis import RedisBroker, RedisHistoryStore

__all__ = [
    "BackendUnavailableError",
    "Broker",
    "HistoryRead",
    "HistoryStore",
    "MemoryBroker",
    "MemoryHistoryStore",
    "PublicationHandler",
    "ReconnectHandler",
    "RedisBroker",
    "RedisHistoryStore",
]
