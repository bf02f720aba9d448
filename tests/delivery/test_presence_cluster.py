"""Acceptance: presence across gateways on one Redis (issue 12, item 3).

Two real gateway processes share a spawned ``redis-server``. Presence on A
lists B's clients (and the reverse) within one heartbeat; joins, updates and
leaves reach co-subscribers on the other gateway; once B is ``kill -9``-ed its
clients are offline on A within ``offline_timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis_support import RedisServer, free_port
from support import timeout, wait_until

from praison_push.client import AsyncPushClient
from praison_push.config import GatewayConfig, PresenceConfig, PushConfig, RedisConfig

from .helpers import GatewayProcess, stop_all

pytestmark = pytest.mark.redis

HEARTBEAT = 1
OFFLINE = 2


def config(port: int, redis: RedisConfig) -> GatewayConfig:
    presence = PresenceConfig(heartbeat_interval=HEARTBEAT, offline_timeout=OFFLINE)
    return GatewayConfig(port=port, push=PushConfig(enabled=True, redis=redis, presence=presence))


@pytest.fixture
async def pair(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[list[GatewayProcess]]:
    redis = RedisConfig(url=redis_server.url, prefix=redis_prefix)
    gateways = [
        GatewayProcess(tmp_path / f"gateway-{name}.log", config(free_port(), redis)).start()
        for name in "ab"
    ]
    try:
        yield gateways
    finally:
        for gateway in gateways:
            gateway.kill()
    for gateway in gateways:
        assert "Traceback" not in gateway.log.read_text()


async def client(url: str, client_id: str, events: list[dict[str, Any]]) -> AsyncPushClient:
    push = AsyncPushClient(url, client_id=client_id, request_timeout=timeout(5))
    for kind in ("presence_join", "presence_update", "presence_leave", "presence_diff"):
        push.on(kind)(events.append)
    await push.connect()
    return push


async def listed(push: AsyncPushClient, channel: str | None = None) -> dict[str, str]:
    return {p.client_id: p.status for p in await push.get_presence(channel)}


def changes(events: list[dict[str, Any]], kind: str, client_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind and e["data"]["client_id"] == client_id]


async def test_presence_spans_gateways_and_a_killed_gateways_clients_go_offline(
    pair: list[GatewayProcess],
) -> None:
    a, b = pair
    seen_a: list[dict[str, Any]] = []
    seen_b: list[dict[str, Any]] = []
    alice = await client(a.url, "alice", seen_a)
    bob = await client(b.url, "bob", seen_b)
    carol = await client(b.url, "carol", [])
    try:
        await alice.subscribe("room", lambda _m: None)
        await bob.subscribe("room", lambda _m: None)
        joined = time.monotonic()
        # Each gateway lists the other's clients within one heartbeat, both ways.
        found: dict[str, dict[str, str]] = {}

        async def check() -> bool:
            found["a"] = await listed(alice, "room")
            found["b"] = await listed(bob)
            return set(found["a"]) == {"alice", "bob"} and {"alice", "bob", "carol"} <= set(
                found["b"]
            )

        while not await check():
            assert time.monotonic() - joined < HEARTBEAT, found
            await asyncio.sleep(0.02)
        assert found["a"] == {"alice": "online", "bob": "online"}
        assert "carol" not in await listed(alice, "room")  # B's client, not on the channel
        # Bob's join on B reached Alice on A; an update too.
        await wait_until(lambda: changes(seen_a, "presence_join", "bob"), 3)
        await bob.set_status("away")
        await wait_until(lambda: changes(seen_a, "presence_update", "bob"), 3)
        assert changes(seen_a, "presence_update", "bob")[-1]["data"]["status"] == "away"
        status: dict[str, str] = {}

        async def bob_away() -> bool:
            status.update(await listed(alice, "room"))
            return status["bob"] == "away"

        while not await bob_away():  # the store follows within a tick
            assert time.monotonic() - joined < timeout(3), status
            await asyncio.sleep(0.02)
        # And the reverse: Alice leaving the channel on A reaches Bob on B.
        await alice.unsubscribe("room")
        await wait_until(lambda: changes(seen_b, "presence_leave", "alice"), 3)
        await alice.subscribe("room", lambda _m: None)

        # B dies without a word: within offline_timeout its clients are gone from A.
        assert "bob" in await listed(alice, "room")
        b.kill()
        killed = time.monotonic()
        while "bob" in await listed(alice, "room"):
            assert time.monotonic() - killed < timeout(OFFLINE + 0.5), "bob still listed"
            await asyncio.sleep(0.02)
        assert "carol" not in await listed(alice)
        # Alice is told: Bob left the channel (the reaping gateway announces it).
        await wait_until(lambda: changes(seen_a, "presence_leave", "bob"), OFFLINE)
        assert changes(seen_a, "presence_leave", "bob")[-1]["data"]["status"] == "offline"
    finally:
        await stop_all([alice, bob, carol])
