"""Hub fixtures: a hub on memory backends with an injected clock, no network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import FakeClock

from praison_push.backends import MemoryBroker, MemoryDeliveryStore, MemoryHistoryStore
from praison_push.config import GatewayConfig
from praison_push.hub import Hub

from .helpers import MakeHub


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_hub(clock: FakeClock) -> AsyncIterator[MakeHub]:
    """Build hubs (``make_hub(config=None, **GatewayConfig fields)``); all closed afterwards.

    Like the server's gateway, they track deliveries in a memory store
    (``DeliveryConfig.enabled`` is the default).
    """
    hubs: list[Hub] = []

    def make(config: GatewayConfig | None = None, **fields: Any) -> Hub:
        config = config or GatewayConfig(**fields)
        hub = Hub(
            config,
            history=MemoryHistoryStore(config.history, clock=clock),
            broker=MemoryBroker(),
            clock=clock,
            delivery=MemoryDeliveryStore(),
        )
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


@pytest.fixture
def hub(make_hub: MakeHub) -> Hub:
    """A hub with the default configuration."""
    return make_hub()
