"""Redis restarted empty mid-stream: nothing acknowledged after the restart is lost,
and what was lost before it is a ``gap`` event, never silent (issue 12, item 5).

Before: the subscribers' resubscribe named the lost epoch, the gateway answered
with the new epoch's *tail*, and every message published between Redis coming
back and the resubscribe was dropped with only a log line.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import WAIT, timeout, wait_until

from praison_push.client import AsyncPushClient, Backoff
from praison_push.config import GatewayConfig, PushConfig, RedisConfig
from praison_push.protocol import PushError

pytestmark = pytest.mark.redis


async def test_redis_restarted_empty_loses_nothing_acknowledged_after_it(
    gateway_factory: Any, own_redis_server: Any, redis_prefix: str
) -> None:
    redis = RedisConfig(url=own_redis_server.url, prefix=redis_prefix)
    config = GatewayConfig(push=PushConfig(enabled=True, redis=redis))
    # The publisher's gateway hears its own publications even while its Redis
    # listener is away; the subscribers' gateway misses them until it resyncs.
    gateway, publishing = gateway_factory(config), gateway_factory(config)
    backoff = Backoff(initial=0.02, maximum=0.2)
    received: dict[str, list[int]] = {"s1": [], "s2": []}
    gaps: dict[str, list[dict[str, Any]]] = {"s1": [], "s2": []}
    subscribers = []
    for name in received:
        client = AsyncPushClient(gateway.url, client_id=name, backoff=backoff, request_timeout=WAIT)
        client.on("channel_message", lambda m, name=name: received[name].append(m.data["n"]))
        client.on("gap", lambda event, name=name: gaps[name].append(event))
        subscribers.append(client)
    publisher = AsyncPushClient(publishing.url, backoff=backoff, request_timeout=1.0)
    acked_before: list[int] = []
    acked_after: list[int] = []
    restarted = False

    async def publish(n: int) -> None:
        try:
            await publisher.publish("feed", {"n": n})
        except (PushError, asyncio.TimeoutError):
            return  # not acknowledged: may be lost (it must then be a gap, see below)
        (acked_after if restarted else acked_before).append(n)

    for client in (*subscribers, publisher):
        await client.connect()
    try:
        for client in subscribers:
            await client.subscribe("feed")
        n = 0
        for n in range(30):
            await publish(n)
        await wait_until(lambda: all(len(r) == 30 for r in received.values()), what="warm-up")
        own_redis_server.restart()
        restarted = True
        deadline = asyncio.get_running_loop().time() + timeout(15)
        while len(acked_after) < 60:
            assert asyncio.get_running_loop().time() < deadline, "no publish succeeded"
            n += 1
            await publish(n)
            await asyncio.sleep(0.005)  # a stream, not a burst: the resync happens mid-way
        for name, got in received.items():
            await wait_until(
                lambda got=got: set(acked_after) <= set(got), 10, what=f"{name} caught up"
            )
            assert len(got) == len(set(got)), "a message reached a handler twice"
            lost = set(acked_before) - set(got)
            assert not lost or gaps[name], f"{name} lost {sorted(lost)} silently"
    finally:
        for client in (*subscribers, publisher):
            await client.disconnect()
