"""Acceptance: with the Redis store, any gateway redelivers (issue 12).

Two real gateways on one spawned ``redis-server``: a client that left gateway A
without acknowledging gets its pending deliveries from gateway B, and a
dead letter given up on by either is published once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis_support import RedisServer
from support import Recorder, timeout, wait_until

from praison_push.backends import RedisDeliveryStore
from praison_push.client import AsyncPushClient, ChannelMessage
from praison_push.config import DeliveryConfig, GatewayConfig, PushConfig, RedisConfig
from praison_push.server import GatewayThread

pytestmark = pytest.mark.redis


async def stored_pending(server: RedisServer, prefix: str, client_id: str, count: int) -> None:
    """Wait (bounded) until the shared store holds ``count`` pending deliveries of ``client_id``."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(server.url, decode_responses=True)
    store = RedisDeliveryStore(client, prefix)
    try:
        deadline = asyncio.get_running_loop().time() + timeout(5)
        while len(await store.load(client_id)) != count:
            assert asyncio.get_running_loop().time() < deadline, "the store never caught up"
            await asyncio.sleep(0.01)
    finally:
        await client.aclose()


def shared(redis_server: RedisServer, prefix: str, **delivery: object) -> GatewayConfig:
    redis = RedisConfig(url=redis_server.url, prefix=prefix)
    tracking = DeliveryConfig(store_backend="redis", **delivery)  # type: ignore[arg-type]
    return GatewayConfig(port=0, push=PushConfig(enabled=True, redis=redis, delivery=tracking))


async def test_a_client_gets_its_pending_deliveries_from_another_gateway(
    gateway_factory: Callable[..., GatewayThread], redis_server: RedisServer, redis_prefix: str
) -> None:
    config = shared(redis_server, redis_prefix)
    a, b = gateway_factory(config), gateway_factory(config)
    got: list[ChannelMessage] = []
    first = AsyncPushClient(a.url, client_id="roamer", auto_ack=False)
    publisher = AsyncPushClient(b.url)
    await first.connect()
    await publisher.connect()
    try:
        await first.subscribe("orders", got.append)
        for n in range(3):
            await publisher.publish("orders", {"n": n})
        await wait_until(lambda: len(got) == 3)
        assert await got[0].ack() is True
        # The store learns of the acknowledgement behind the reply (PROTOCOL.md §8): a
        # client that reached B before A wrote it would rightly get it again. Here
        # both gateways share one process (and one GIL), so give A that moment.
        await stored_pending(redis_server, redis_prefix, "roamer", 2)
        await first.disconnect()  # left A with two deliveries unacknowledged
        later: list[ChannelMessage] = []
        second = AsyncPushClient(b.url, client_id="roamer", auto_ack=False)
        await second.connect()
        try:
            await second.subscribe("orders", later.append)
            await wait_until(lambda: len(later) == 2)
            assert [m.data["n"] for m in later] == [1, 2]
            assert all(m.redelivered for m in later)
            for message in later:
                assert await message.ack() is True  # B settles what A delivered
        finally:
            await second.disconnect()
    finally:
        await publisher.disconnect()


async def test_a_dead_letter_is_published_once_by_a_cluster(
    gateway_factory: Callable[..., GatewayThread], redis_server: RedisServer, redis_prefix: str
) -> None:
    """One client on both gateways at once: both track its deliveries, both give up on
    them, and the store's atomic take lets exactly one of them publish each dead letter."""
    config = shared(redis_server, redis_prefix, ack_timeout=0.1, max_retries=1)
    a, b = gateway_factory(config), gateway_factory(config)
    letters = Recorder()
    ops = AsyncPushClient(a.url, client_id="ops")
    on_a = AsyncPushClient(a.url, client_id="silent", auto_ack=False)
    on_b = AsyncPushClient(b.url, client_id="silent", auto_ack=False)
    publisher = AsyncPushClient(b.url)
    clients = [ops, on_a, on_b, publisher]
    for client in clients:
        await client.connect()
    try:
        await ops.subscribe("$dead-letter", letters)
        await on_a.subscribe("orders")
        await on_b.subscribe("orders")
        first = await publisher.publish("orders", {"n": 1})
        await letters.wait(1)
        second = await publisher.publish("orders", {"n": 2})
        # The second's dead letter comes a full retry cycle later: by then a duplicate of
        # the first, given up on by the other gateway at about the same time, would be here.
        await wait_until(
            lambda: any(m.data["message"]["event_id"] == second.event_id for m in letters.calls)
        )
        about = [m.data["message"]["event_id"] for m in letters.calls]
        assert about.count(first.event_id) == 1 and about.count(second.event_id) == 1
        assert {(m.data["client_id"], m.data["reason"]) for m in letters.calls} == {
            ("silent", "max_retries")
        }
    finally:
        for client in clients:
            await client.disconnect()
