"""Presence shared through a store (hub/presence_sync.py), in process: the costs stay linear.

The behaviour across real gateways is tested in tests/server/test_scale_out.py and
tests/delivery/test_presence_cluster.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from support import FakeClock

from praison_push.backends import (
    BackendUnavailableError,
    MemoryBroker,
    MemoryHistoryStore,
    MemoryPresenceStore,
    PresenceStore,
)
from praison_push.config import GatewayConfig, PushConfig
from praison_push.hub import ANONYMOUS, Hub
from praison_push.hub.presence_sync import PresenceSync

from .helpers import drain, join, subscribe


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
    hub, _ = _synced_hub(config, store, clock)
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

        for _ in range(20):  # a few loop turns: the relay's write, not the upkeep's tick
            await asyncio.sleep(0)
        stored = (await store.read(clock())).get(hub.server_id, [])
        assert len(stored) == crowd  # whoever hears of a join finds it listed
        # Each change writes the changed clients' entries, not the whole crowd's again.
        assert built <= 4 * crowd, built
    finally:
        await hub.close()


class _FlakyStore(MemoryPresenceStore):
    """A presence store that is away until told otherwise."""

    down = True

    async def write(self, *args: Any, **kwargs: Any) -> None:
        if self.down:
            raise BackendUnavailableError("Redis is unavailable: connection refused")
        await super().write(*args, **kwargs)


async def test_a_store_outage_is_one_warning_and_presence_is_written_once_back(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = GatewayConfig(push=PushConfig(enabled=True))
    store = _FlakyStore()
    hub, sync = _synced_hub(config, store, clock)

    async def tick() -> None:
        clock.advance(config.push.presence.heartbeat_interval)  # a refresh is due
        sync.tick(clock())
        await _written(sync)

    try:
        hub.connect(client_id="alice", principal=ANONYMOUS, peer="p")
        with caplog.at_level(logging.DEBUG, logger="praison_push.hub"):
            for _ in range(5):
                await tick()
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert [r.getMessage() for r in warnings] == [
                "presence not synced with the store: Redis is unavailable: connection refused"
            ]
            assert await store.read(clock()) == {}
            store.down = False
            await tick()
        assert {e["client_id"] for e in (await store.read(clock()))[hub.server_id]} == {"alice"}
        assert "presence synced with the store again" in caplog.text
    finally:
        await hub.close()


async def test_a_dead_gateways_clients_leave_within_a_tick_of_its_deadline(
    clock: FakeClock,
) -> None:
    config = GatewayConfig(push=PushConfig(enabled=True))
    store = MemoryPresenceStore()
    hub, sync = _synced_hub(config, store, clock)

    async def tick() -> None:
        sync.tick(clock())
        await _written(sync)

    try:
        alice = join(hub, "alice")
        await subscribe(hub, alice, "room")
        bob = {"client_id": "bob", "status": "online", "metadata": {}, "subs": ["room"]}
        await store.write("gateway-b", {"bob": bob}, [], expires=clock() + 1.0)
        await tick()
        drain(alice)
        clock.advance(1.5)  # B missed its deadline; this node's own refresh is not due
        await tick()
        leaves = [f for f in drain(alice) if f["type"] == "presence_leave"]
        assert [(f["data"]["client_id"], f["data"]["status"]) for f in leaves] == [
            ("bob", "offline")
        ]
        assert set(await store.read(clock())) == {hub.server_id}  # B is gone from the store
    finally:
        await hub.close()


def _synced_hub(
    config: GatewayConfig, store: PresenceStore, clock: FakeClock
) -> tuple[Hub, PresenceSync]:
    """A hub sharing presence through ``store``, and its presence sync."""
    hub = Hub(
        config,
        history=MemoryHistoryStore(config.history, clock=clock),
        broker=MemoryBroker(),
        clock=clock,
        presence_store=store,
    )
    sync = hub.node.presence_sync
    assert sync is not None
    return hub, sync


async def _written(sync: PresenceSync) -> None:
    """Let the sync's store write (a reap, a refresh: one store call each) finish."""
    for _ in range(100):  # bounded: the loop turns a store call takes
        await asyncio.sleep(0)
        if sync._writer is None or sync._writer.done():
            return
