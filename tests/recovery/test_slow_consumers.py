"""Slow consumers: per channel-pattern policy, and one stalled subscriber costs the
others nothing (issue 12, item 7).

A raw socket subscribes and stops reading, so TCP backs up and its send queue
fills. On a ``drop`` channel it stays connected and misses publications (then
gets a ``channel_gap`` notice); before the policy it could only be closed 1013.
Meanwhile two normal clients receive everything, as fast as without it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest
from support import ask, dial, expect, wait_until

from praison_push.client import AsyncPushClient
from praison_push.config import GatewayConfig, LimitsConfig

pytestmark = pytest.mark.e2e

COUNT = 1_500
PAYLOAD = secrets.token_urlsafe(6_000)  # incompressible: the stalled socket really fills up


async def publish_all(url: str, channel: str) -> None:
    async with dial(url) as ws:
        await expect(ws, "connected")
        for first in range(0, COUNT, 100):
            for n in range(first, first + 100):
                frame = {"type": "channel.publish", "channel": channel,
                         "data": {"n": n, "p": PAYLOAD}}  # fmt: skip
                await ws.send(json.dumps(frame))
            for _ in range(100):
                await expect(ws, "channel.published")


async def fan_out_time(url: str, channel: str) -> float:
    """Seconds until two normal clients received all of ``COUNT`` publications, in order."""
    got: list[list[int]] = [[], []]
    readers = [AsyncPushClient(url) for _ in got]
    for reader, into in zip(readers, got, strict=True):
        reader.on("channel_message", lambda m, into=into: into.append(m.data["n"]))
        await reader.connect()
        await reader.subscribe(channel)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await publish_all(url, channel)
        await wait_until(lambda: all(len(g) == COUNT for g in got), 30, what="fan-out")
        assert all(g == list(range(COUNT)) for g in got)
        return loop.time() - started
    finally:
        await asyncio.gather(*(reader.disconnect() for reader in readers))


async def test_a_stalled_subscriber_on_a_drop_channel_stays_and_costs_others_nothing(
    gateway_factory: Any,
) -> None:
    limits = LimitsConfig(
        send_queue_max_bytes=2 * 1024 * 1024, slow_consumer_policies={"ticks.*": "drop"}
    )
    gateway = gateway_factory(GatewayConfig(limits=limits))
    hub = gateway.gateway.hub
    baseline = await fan_out_time(gateway.url, "ticks.base")
    async with dial(gateway.url, max_queue=1, compression=None) as stalled:
        await expect(stalled, "connected")
        await ask(stalled, "channel.subscribe", channel="ticks.load")
        session = next(c for c in hub.connections.values() if "ticks.load" in c.subscriptions)
        # From here on the stalled socket reads nothing.
        loaded = await fan_out_time(gateway.url, "ticks.load")
        assert not session.closing  # dropped for, not disconnected
        assert session.gaps and "ticks.load" in session.gaps  # a gap notice is owed
    print(f"fan-out of {COUNT}: {baseline:.2f}s alone, {loaded:.2f}s beside a stalled subscriber")
    assert loaded < 2 * baseline + 0.5, (
        f"with a stalled subscriber {loaded:.2f}s, {baseline:.2f}s without"
    )
