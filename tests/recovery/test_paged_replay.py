"""Recovery always completes: a gap larger than the send queue is replayed in pages.

Before paging, a resubscribe whose gap did not fit in the send queue was cut
with 1013 on every attempt, and the client reconnected forever.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis_support import free_port
from support import CuttingProxy, wait_until

from praison_push.client import AsyncPushClient, Backoff
from praison_push.config import (
    DeliveryConfig,
    GatewayConfig,
    HistoryConfig,
    LimitsConfig,
    PushConfig,
    RedisConfig,
)

pytestmark = pytest.mark.e2e

BODY = "x" * 60_000


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_a_20_mb_gap_is_caught_up_in_pages_without_a_1013(
    gateway_factory: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    push = PushConfig(enabled=True)
    if backend == "redis":
        url = request.getfixturevalue("redis_server").url
        prefix = request.getfixturevalue("redis_prefix")
        push = PushConfig(enabled=True, redis=RedisConfig(url=url, prefix=prefix))
    gateway = gateway_factory(
        GatewayConfig(
            push=push,
            history=HistoryConfig(size=1_000),
            limits=LimitsConfig(max_message_size=65_536),
        )
    )
    received: list[int] = []
    closes: list[Any] = []
    async with CuttingProxy(gateway.port) as proxy:
        reader = AsyncPushClient(
            proxy.url(), client_id="pager", backoff=Backoff(initial=0.02, maximum=0.2)
        )
        publisher = AsyncPushClient(gateway.url)
        reader.on("channel_message", lambda m: received.append(m.data["n"]))
        reader.on("disconnected", lambda event: closes.append(event["code"]))
        await reader.connect()
        await publisher.connect()
        try:
            await reader.subscribe("big")
            await publisher.publish("big", {"n": -1, "body": ""})
            await wait_until(lambda: received == [-1], what="first message")
            upstream = proxy.upstream_port
            proxy.upstream_port = free_port()  # the reader cannot come back meanwhile
            proxy.cut()
            for n in range(300):
                await publisher.publish("big", {"n": n, "body": BODY})
            proxy.upstream_port = upstream
            await wait_until(lambda: len(received) >= 301, 30, what="the 20 MB gap replayed")
            assert received == [-1, *range(300)]
            assert 1013 not in closes
        finally:
            await reader.disconnect()
            await publisher.disconnect()


async def test_a_gap_history_cannot_cover_is_a_gap_event_and_the_rest_is_replayed(
    gateway_factory: Any,
) -> None:
    # Plain pub/sub: with tracking, publications sent to the cut connection before the
    # gateway noticed would come back as pending deliveries (at-least-once), not as a gap.
    push = PushConfig(enabled=True, delivery=DeliveryConfig(enabled=False))
    gateway = gateway_factory(GatewayConfig(push=push, history=HistoryConfig(size=5)))
    received: list[int] = []
    gaps: list[dict[str, Any]] = []
    async with CuttingProxy(gateway.port) as proxy:
        reader = AsyncPushClient(proxy.url(), backoff=Backoff(initial=0.02, maximum=0.2))
        publisher = AsyncPushClient(gateway.url)
        reader.on("channel_message", lambda m: received.append(m.data["n"]))
        reader.on("gap", gaps.append)
        await reader.connect()
        await publisher.connect()
        try:
            await reader.subscribe("small")
            await publisher.publish("small", {"n": -1})
            await wait_until(lambda: received == [-1], what="first message")
            upstream = proxy.upstream_port
            proxy.upstream_port = free_port()
            proxy.cut()
            for n in range(10):
                await publisher.publish("small", {"n": n})
            proxy.upstream_port = upstream
            await wait_until(lambda: len(received) >= 6 and gaps, what="recovery")
            assert received == [-1, 5, 6, 7, 8, 9]  # what history still holds, in order
            assert [(g["channel"], g["reason"]) for g in gaps] == [("small", "history_lost")]
        finally:
            await reader.disconnect()
            await publisher.disconnect()
