"""Presence shared through a store (hub/presence_sync.py), in process: the costs stay linear.

The behaviour across real gateways is tested in tests/server/test_scale_out.py and
tests/delivery/test_presence_cluster.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from support import FakeClock

from praison_push.backends import MemoryBroker, MemoryHistoryStore, MemoryPresenceStore
from praison_push.config import GatewayConfig, PushConfig
from praison_push.hub import ANONYMOUS, Hub


async def test_a_gateway_alone_keeps_no_presence_changes(hub: Hub) -> None:
    """Without a presence store nobody takes the changed clients: none are kept (no leak)."""
    for n in range(3):
        connection = hub.connect(client_id=f"c{n}", principal=ANONYMOUS, peer="p")
        await hub.receive(connection, json.dumps({"type": "channel.subscribe", "channel": "c"}))
    assert hub.node.presence_sync is None
    assert hub.node.presence.changed is None


async def test_a_crowd_joining_costs_entries_linear_in_its_size(clock: FakeClock) -> None:
    config = GatewayConfig(push=PushConfig(enabled=True))
    store = MemoryPresenceStore()
    hub = Hub(
        config,
        history=MemoryHistoryStore(config.history, clock=clock),
        broker=MemoryBroker(),
        clock=clock,
        presence_store=store,
    )
    built = 0
    entry = hub.node.presence.entry

    def counting(connection: Any) -> dict[str, Any]:
        nonlocal built
        built += 1
        return entry(connection)

    hub.node.presence.entry = counting  # type: ignore[method-assign]
    crowd = 300
    try:
        for n in range(crowd):
            connection = hub.connect(client_id=f"c{n}", principal=ANONYMOUS, peer="p")
            subscribe = {"type": "channel.subscribe", "channel": "room"}
            await hub.receive(connection, json.dumps(subscribe))
            for _ in range(3):
                await asyncio.sleep(0)  # joins arrive over time: writes go on meanwhile

        stored: list[dict[str, Any]] = []
        for _ in range(300):  # bounded: the writes follow the relayed changes
            stored = (await store.read(clock())).get(hub.server_id, [])
            if len(stored) == crowd:
                break
            await asyncio.sleep(0.01)
        assert len(stored) == crowd
        # Each change writes the changed clients' entries, not the whole crowd's again.
        assert built <= 4 * crowd, built
    finally:
        await hub.close()
