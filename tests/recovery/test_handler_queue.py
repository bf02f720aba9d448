"""A slow handler's queue stays bounded; what did not fit is recovered from history
(issue 12, item 6).

Before the bound, the client queued every message its handlers had not reached:
30,000 × 5 KB arriving while a handler slept 0.2 s per message grew the queue to
~30,000 messages (~150 MB).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support import WAIT, dial, expect, wait_until

from praison_push.client import AsyncPushClient, Backoff, ChannelMessage
from praison_push.config import GatewayConfig, HistoryConfig

pytestmark = pytest.mark.e2e

COUNT = 30_000
BOUND = 1_000


async def publish_burst(url: str, channel: str, count: int) -> None:
    body = "y" * 5_000
    async with dial(url) as ws:
        await expect(ws, "connected")
        batch = 200
        for first in range(0, count, batch):
            numbers = range(first, min(first + batch, count))
            for n in numbers:
                await ws.send(json.dumps({"type": "channel.publish", "channel": channel,
                                          "data": {"n": n, "body": body}}))  # fmt: skip
            for _ in numbers:
                await expect(ws, "channel.published")


async def test_a_slow_handler_stays_under_its_queue_bound_and_still_gets_everything(
    gateway_factory: Any,
) -> None:
    history = HistoryConfig(size=COUNT, max_memory_bytes=512 * 1024 * 1024)
    gateway = gateway_factory(GatewayConfig(history=history))
    received: list[int] = []
    slow = True
    waited: list[str] = []

    client = AsyncPushClient(
        gateway.url, max_queued_messages=BOUND, backoff=Backoff(initial=0.02, maximum=0.1)
    )

    async def handler(message: ChannelMessage) -> None:
        received.append(message.data["n"])
        if slow:
            await asyncio.sleep(0.2)
            # A handler that awaits a reply, or a message, while the client is behind
            # must not deadlock (its queue drains only once it returns).
            if client._driver._behind and not waited:
                waited.append(type(await client.list_channels()).__name__)
                waiting.set()
                side = await client.wait_for("side", timeout=WAIT)
                waited.append(side.data)
                run = await client.execute("echo", "hello")  # its events arrive while behind
                waited.append("hello" in str(await asyncio.wait_for(run.result(), WAIT)))

    waiting = asyncio.Event()

    async def publish_side() -> None:
        await waiting.wait()
        # Subscribed at the gateway, not only waited for by the client: wait_for
        # registers its waiter before its subscribe is answered, and a publish in
        # between reaches no subscriber (it only goes to history).
        assert gateway.gateway is not None
        channels = gateway.gateway.hub.node.channels

        def subscribed() -> bool:
            side = channels.get("side")
            return side is not None and bool(side.subscribers)

        await wait_until(subscribed, what="the client subscribed to 'side'")
        async with dial(gateway.url) as ws:
            await expect(ws, "connected")
            await ws.send(json.dumps({"type": "channel.publish", "channel": "side", "data": "s"}))
            await expect(ws, "channel.published")

    client.on("channel_message", lambda m: None if m.channel == "side" else handler(m))
    side_task = asyncio.ensure_future(publish_side())
    await client.connect()
    try:
        await client.subscribe("burst")
        await publish_burst(gateway.url, "burst", COUNT)
        slow = False
        await wait_until(lambda: len(received) >= COUNT, 60, what="every message handled")
        assert received == list(range(COUNT))  # in order, none twice, none lost
        assert client._dispatcher.queued_peak <= BOUND
        assert waited == ["list", "s", True]
        await side_task
    finally:
        await client.disconnect()
