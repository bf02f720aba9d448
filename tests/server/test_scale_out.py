"""Scale-out: gateways on one Redis share publications and history.

See docs/ARCHITECTURE.md, "Scale-out".

Every gateway here is a real uvicorn server on its own thread and port; Redis is
a ``redis-server`` spawned for the tests (never the system one), under a key
prefix of each test's own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from redis_support import RedisServer, free_port
from support import ask, closed_with, expect, http_client, raw_client, timeout, works

from praison_push.config import DeliveryConfig, GatewayConfig, PushConfig, RedisConfig
from praison_push.protocol import CloseCode, should_reconnect
from praison_push.server import Gateway, GatewayThread

from .helpers import LogCapture, Serve, messages

pytestmark = pytest.mark.redis

Cluster = Callable[..., list[GatewayThread]]


def redis_gateway_config(url: str, prefix: str) -> GatewayConfig:
    return GatewayConfig(push=PushConfig(enabled=True, redis=RedisConfig(url=url, prefix=prefix)))


@pytest.fixture
def cluster(serve: Serve, redis_server: RedisServer, redis_prefix: str) -> Cluster:
    """``cluster(n)``: ``n`` gateways on the shared test Redis, one key prefix."""

    def start(count: int = 2, url: str | None = None) -> list[GatewayThread]:
        config = redis_gateway_config(url or redis_server.url, redis_prefix)
        return [serve(config) for _ in range(count)]

    return start


async def test_a_publication_on_one_gateway_reaches_subscribers_of_another(
    cluster: Cluster,
) -> None:
    a, b = cluster(2)
    assert a.port != b.port
    async with raw_client(a.url + "?client_id=reader") as reader, raw_client(b.url) as writer:
        subscribed = await ask(reader, "channel.subscribe", channel="news")
        receipt = await ask(writer, "channel.publish", channel="news", data={"n": 1})
        assert (receipt["type"], receipt["offset"]) == ("channel.published", 1)
        assert receipt["delivered"] == 0  # deliveries on the publishing gateway (none there)
        [message] = await messages(reader, 1)
        assert message["data"] == {"n": 1}
        assert message["event_id"] == receipt["event_id"]
        assert (message["offset"], message["epoch"]) == (1, subscribed["epoch"])
    async with http_client(timeout=timeout(5)) as http:
        for gateway in (a, b):
            health = (await http.get(gateway.http_url + "/health")).json()
            assert health["backend"] == "redis"


async def test_every_gateway_sees_a_channel_in_offset_order(
    cluster: Cluster, logs: LogCapture
) -> None:
    gateways = cluster(3)
    async with (
        raw_client(gateways[0].url + "?client_id=r0") as r0,
        raw_client(gateways[1].url + "?client_id=r1") as r1,
        raw_client(gateways[2].url + "?client_id=w2") as w2,
        raw_client(gateways[0].url + "?client_id=w0") as w0,
    ):
        for reader in (r0, r1):
            await ask(reader, "channel.subscribe", channel="race")

        async def burst(ws: Any, tag: str) -> None:
            for n in range(20):
                await ws.send(
                    json.dumps({"type": "channel.publish", "channel": "race", "data": [tag, n]})
                )

        await asyncio.gather(burst(w0, "a"), burst(w2, "b"))
        for reader in (r0, r1):
            got = await messages(reader, 40)
            assert [m["offset"] for m in got] == list(range(1, 41))  # no gap, no duplicate
            assert sorted(m["data"][1] for m in got if m["data"][0] == "a") == list(range(20))
    quiet = [r for r in logs.records if r.name.startswith("praison_push") and r.levelno >= 30]
    assert quiet == []  # nothing to warn about in normal operation


async def test_recovery_with_since_works_across_gateways(cluster: Cluster) -> None:
    a, b = cluster(2)
    async with raw_client(a.url + "?client_id=one") as one:
        subscribed = await ask(one, "channel.subscribe", channel="feed")
        for n in range(1, 4):
            await ask(one, "channel.publish", channel="feed", data=n)
    epoch = subscribed["epoch"]
    async with raw_client(b.url + "?client_id=one") as again:
        reply = await ask(
            again, "channel.subscribe", channel="feed", since={"offset": 1, "epoch": epoch}
        )
        assert (reply["recovered"], reply["offset"], reply["epoch"]) == (True, 3, epoch)
        replayed = await messages(again, 2)
        assert [(m["offset"], m["data"]) for m in replayed] == [(2, 2), (3, 3)]
        history = await ask(again, "channel.history", channel="feed", limit=2)
        assert [m["data"] for m in history["messages"]] == [2, 3]


async def test_history_survives_a_gateway_restart(cluster: Cluster, logs: LogCapture) -> None:
    [gateway] = cluster(1)
    async with raw_client(gateway.url + "?client_id=w") as writer:
        for n in range(1, 3):
            receipt = await ask(writer, "channel.publish", channel="kept", data=n)
        await asyncio.to_thread(gateway.stop)
        assert should_reconnect(await closed_with(writer))
    gateway.start()
    logs.attach()
    async with raw_client(gateway.url + "?client_id=r") as reader:
        first = await ask(reader, "channel.history", channel="kept")
        epoch = first["epoch"]
        assert [m["data"] for m in first["messages"]] == [1, 2]
        reply = await ask(
            reader, "channel.subscribe", channel="kept", since={"offset": 1, "epoch": epoch}
        )
        assert (reply["recovered"], reply["epoch"], reply["offset"]) == (True, epoch, 2)
        assert (await messages(reader, 1))[0]["offset"] == receipt["offset"]


def test_an_unreachable_redis_is_a_clear_error_at_start(redis_prefix: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ConnectionError, match=r"cannot reach Redis at .*PushConfig\.redis"):
        Gateway(redis_gateway_config(url, redis_prefix))


def test_a_redis_delivery_store_needs_a_redis_config() -> None:
    push = PushConfig(enabled=True, delivery=DeliveryConfig(store_backend="redis"))
    with pytest.raises(ValueError, match=r"store_backend='redis' needs PushConfig\.redis"):
        Gateway(GatewayConfig(push=push))


async def test_redis_going_away_and_coming_back(
    serve: Serve, own_redis_server: RedisServer, redis_prefix: str, logs: LogCapture
) -> None:
    redis = own_redis_server
    config = redis_gateway_config(redis.url, redis_prefix)
    a, b = serve(config), serve(config)
    async with (
        raw_client(a.url + "?client_id=sub") as sub,
        raw_client(a.url + "?client_id=pub") as pub,
    ):
        before = await ask(sub, "channel.subscribe", channel="live")
        await ask(pub, "channel.publish", channel="live", data="before")
        [delivered] = await messages(sub, 1)
        # Acknowledged, so it is not redelivered when "sub" comes back (PROTOCOL.md §3).
        acked = await ask(sub, "message_ack", event_id=delivered["event_id"])
        assert acked["ok"] is True

        await asyncio.to_thread(redis.stop)
        # The gateway keeps serving its connections; what needs Redis fails clearly.
        await works(sub)
        refused = await ask(pub, "channel.publish", channel="live", data="lost", ref=5)
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "internal", 5)
        assert "backend unavailable" in refused["message"]
        await works(pub)

        await asyncio.to_thread(redis.start)  # an empty Redis on the same port
        # Back on Redis, the gateway closes subscribed connections (1001): what was
        # published meanwhile never reached it, so its clients must recover.
        assert await closed_with(sub, seconds=10) == CloseCode.GOING_AWAY
    assert "Redis pub/sub connection lost" in logs.text()
    assert "reconnected" in logs.text()

    async with raw_client(a.url + "?client_id=sub") as sub, raw_client(b.url) as writer:
        since = {"offset": before["offset"] + 1, "epoch": before["epoch"]}
        reply = await ask(sub, "channel.subscribe", channel="live", since=since)
        assert reply["recovered"] is False  # Redis lost the history: said, not silent
        receipt = await ask(writer, "channel.publish", channel="live", data="after")
        assert receipt["type"] == "channel.published"
        message = await expect(sub, "channel_message", data="after")
        assert (message["offset"], message["epoch"]) == (1, reply["epoch"])


async def test_presence_spans_gateways_and_a_clean_stop_announces_its_clients_leaving(
    cluster: Cluster,
) -> None:
    """Presence across gateways (the kill -9 case: tests/delivery/test_presence_cluster.py)."""
    a, b = cluster(2)
    async with (
        raw_client(a.url + "?client_id=alice") as alice,
        raw_client(b.url + "?client_id=bob") as bob,
    ):
        await ask(alice, "channel.subscribe", channel="room")
        await ask(bob, "channel.subscribe", channel="room")
        join = await expect(alice, "presence_join", channel="room")  # relayed from B
        assert join["data"]["client_id"] == "bob"

        async def both_listed() -> bool:
            listed = await ask(bob, "presence.query", channel="room")
            return sorted(p["client_id"] for p in listed["presence"]) == ["alice", "bob"]

        for _ in range(100):  # A's entries reach the store within a write (bounded)
            if await both_listed():
                break
            await asyncio.sleep(0.01)
        assert await both_listed()
        await asyncio.to_thread(b.stop)
        # Long before offline_timeout (45 s): B said goodbye for its clients.
        leave = await expect(alice, "presence_leave", channel="room")
        assert (leave["data"]["client_id"], leave["data"]["status"]) == ("bob", "offline")
        listed = await ask(alice, "presence.query", channel="room")
        assert [p["client_id"] for p in listed["presence"]] == ["alice"]
        assert should_reconnect(await closed_with(bob))
