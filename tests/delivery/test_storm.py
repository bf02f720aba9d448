"""Acceptance: the storm (issue 12) — nothing lost, nothing twice, in order.

3 subscribers with tracking on; 5,000 publications while each subscriber's
TCP connection is cut at 20 random points. Every handler sees all 5,000
exactly once, in the channel's order, and every delivery ends acknowledged.
Then the same with two gateways on one Redis, one of them ``kill -9``-ed and
restarted mid-stream (real gateway processes).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from redis_support import RedisServer, free_port
from support import CuttingProxy, timeout, wait_until

from praison_push.client import AsyncPushClient
from praison_push.config import (
    DeliveryConfig,
    GatewayConfig,
    HistoryConfig,
    PushConfig,
    RedisConfig,
)
from praison_push.server import GatewayThread

from .helpers import GatewayProcess, stop_all, subscriber
from .storm import CHANNEL, StormResult, storm

#: ``PRAISON_PUSH_STORM_SEED`` replays one storm exactly (the seed is in the failure message).
SEED = int(os.environ.get("PRAISON_PUSH_STORM_SEED", secrets.randbelow(2**31)))


def check(result: StormResult, messages: int) -> None:
    for sub in result.subscribers:
        who = f"{sub.client.client_id} (seed {SEED})"
        assert len(sub.handled) == messages, f"{who}: {len(sub.handled)} handled"
        if sub.handled != result.order:
            first = next(
                i for i, (x, y) in enumerate(zip(sub.handled, result.order, strict=False)) if x != y
            )
            wire = [
                (f["data"]["seq"], f.get("_redelivered", False))
                for f in sub.wire
                if f["data"]["seq"] in result.order[max(0, first - 3) : first + 3]
            ]
            raise AssertionError(
                f"{who}: out of order or duplicated at {first}: handled "
                f"{sub.handled[max(0, first - 3) : first + 5]}, expected "
                f"{result.order[max(0, first - 3) : first + 5]}; on the wire: {wire}"
            )
        assert sub.connects >= 21, f"{who}: reconnected {sub.connects - 1} times"
    assert [proxy.cuts for proxy in result.proxies] == [20] * len(result.proxies)


def tracked(port: int = 0, redis: RedisConfig | None = None) -> GatewayConfig:
    """Tracking on with a short ``ack_timeout``; history deep enough for any gap of the storm."""
    store = "memory" if redis is None else "redis"
    delivery = DeliveryConfig(ack_timeout=0.5, store_backend=store)
    return GatewayConfig(
        port=port,
        history=HistoryConfig(size=10_000),
        push=PushConfig(enabled=True, redis=redis, delivery=delivery),
    )


async def test_the_storm_on_one_gateway(gateway_factory: Callable[..., GatewayThread]) -> None:
    gateway = gateway_factory(tracked())
    port = int(gateway.url.rsplit(":", 1)[1].split("/")[0])
    proxies = [await CuttingProxy(port).start() for _ in range(3)]
    subs = [await subscriber(p.url(), f"storm-{i}", CHANNEL) for i, p in enumerate(proxies)]
    publisher = AsyncPushClient(gateway.url, client_id="storm-publisher")
    await publisher.connect()
    try:
        result = await storm(publisher, subs, proxies, seed=SEED)
        check(result, 5_000)
        # Every delivery was acknowledged in the end: nothing is pending at the gateway.
        hub = gateway.gateway.hub  # type: ignore[union-attr]
        await wait_until(lambda: gateway.call(hub.stats)["delivery"]["pending"] == 0, 30)
        # The cuts lost frames in flight: some came back as redeliveries.
        assert sum(sub.redeliveries for sub in subs) > 0, f"seed {SEED}"
    finally:
        await stop_all([publisher, *(s.client for s in subs)])
        for proxy in proxies:
            await proxy.close()


@pytest.mark.e2e
async def test_the_storm_on_two_gateways_sharing_redis_with_one_killed_midway(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    redis = RedisConfig(url=redis_server.url, prefix=redis_prefix)
    ports = [free_port(), free_port()]
    gateways = [
        GatewayProcess(tmp_path / f"gateway-{name}.log", tracked(port, redis)).start()
        for name, port in zip("ab", ports, strict=True)
    ]
    a, b = gateways
    # Two subscribers on A (the one killed), one on B; the publisher on B.
    targets = [ports[0], ports[0], ports[1]]
    proxies = [await CuttingProxy(port).start() for port in targets]
    subs = [await subscriber(p.url(), f"storm-{i}", CHANNEL) for i, p in enumerate(proxies)]
    publisher = AsyncPushClient(b.url, client_id="storm-publisher", request_timeout=timeout(10))
    await publisher.connect()

    pids: list[int] = []

    async def kill_and_restart_a() -> None:
        assert a.process is not None
        pids.append(a.process.pid)
        a.kill()
        a.start()
        assert a.process is not None
        pids.append(a.process.pid)

    try:
        result = await storm(
            publisher, subs, proxies, seed=SEED, midway=kill_and_restart_a, messages=5_000
        )
        check(result, 5_000)
        assert len(pids) == 2 and pids[0] != pids[1]  # A really died and came back
    finally:
        await stop_all([publisher, *(s.client for s in subs)])
        for proxy in proxies:
            await proxy.close()
        for gateway in gateways:
            gateway.kill()
    for gateway in gateways:
        assert "Traceback" not in gateway.log.read_text()
