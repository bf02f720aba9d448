"""Storage and transport backends behind the hub: memory now, Redis for scale-out."""

from __future__ import annotations

from .base import Broker, HistoryRead, HistoryStore, PublicationHandler
from .memory import MemoryBroker, MemoryHistoryStore

__all__ = [
    "Broker",
    "HistoryRead",
    "HistoryStore",
    "MemoryBroker",
    "MemoryHistoryStore",
    "PublicationHandler",
]
