"""Through a proxy that refuses WebSocket: fall back to long-poll or SSE, then upgrade back.

A real gateway behind an in-test proxy answering ``Upgrade: websocket`` with
403: the client connects over HTTP within the fallback bound, does everything
(subscribe, publish, presence, acks, an agent run) and receives 1,000
messages, none lost or repeated; once the proxy lets WebSocket through, the
client switches back without a gap.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from support import CuttingProxy, Recorder, timeout, wait_until

from praison_push.client import AsyncPushClient, ChannelMessage
from praison_push.client.fallback import TransportChooser
from praison_push.config import GatewayConfig, PushConfig
from praison_push.server import GatewayThread

COUNT = 1000


@pytest.fixture
def push_gateway(gateway_factory: Any) -> GatewayThread:
    thread: GatewayThread = gateway_factory(GatewayConfig(push=PushConfig(enabled=True)))
    return thread


async def _publish_range(publisher: AsyncPushClient, channel: str, start: int, stop: int) -> None:
    for n in range(start, stop):
        await publisher.publish(channel, n)


@pytest.mark.parametrize("http_kind", ["polling", "sse"])
async def test_fallback_works_end_to_end_then_upgrades_without_a_gap(
    push_gateway: GatewayThread, http_kind: str
) -> None:
    async with CuttingProxy(push_gateway.port) as proxy:
        proxy.refuse_upgrades = True
        chooser = TransportChooser(["websocket", http_kind], upgrade_interval=0.3)
        client = AsyncPushClient(proxy.url(), client_id="behind-proxy", transport_factory=chooser)
        publisher = AsyncPushClient(push_gateway.url, client_id="publisher")
        changes = Recorder()
        client.on("transport_changed")(changes)
        received: list[Any] = []

        async def on_message(message: ChannelMessage) -> None:
            received.append(message.data)

        try:
            started = time.monotonic()
            await client.connect()
            assert time.monotonic() - started < 5.0
            assert client.transport == http_kind and proxy.refused >= 1
            await publisher.connect()
            # Everything works over HTTP: subscribe, publish, presence, acks, a run.
            await client.subscribe("feed", on_message)
            await publisher.subscribe("feed")
            echo = Recorder()
            await publisher.subscribe("back", echo)
            receipt = await client.publish("back", {"from": http_kind})
            assert receipt.delivered == 1
            (message,) = await echo.wait()
            assert message.data == {"from": http_kind}
            presence = {p.client_id for p in await client.get_presence("feed")}
            assert presence == {"behind-proxy", "publisher"}
            execution = await client.execute("demo-weather", "Weather in Paris?")
            assert "Paris" in await execution.result(timeout=timeout(20))
            await _publish_range(publisher, "feed", 0, COUNT)
            await wait_until(lambda: len(received) >= COUNT, timeout(30))
            assert received == list(range(COUNT))
            kept = await client.history("feed", limit=3)
            assert [m.data for m in kept] == [COUNT - 3, COUNT - 2, COUNT - 1]
            # Acknowledged: nothing stays pending for this client at the gateway.
            tracker = push_gateway.gateway.hub.tracker  # type: ignore[union-attr]
            if tracker is not None:
                await wait_until(lambda: tracker.pending == 0, timeout(10))
            # WebSocket allowed again, while messages keep coming: upgrade without a gap.
            publishing = asyncio.ensure_future(_publish_range(publisher, "feed", COUNT, 2 * COUNT))
            await wait_until(lambda: len(received) >= COUNT + 50, timeout(10))
            proxy.refuse_upgrades = False
            (change,) = await changes.wait(1, timeout(10))
            assert change == {"transport": "websocket", "previous": http_kind}
            assert client.transport == "websocket"
            await publishing
            await wait_until(lambda: len(received) >= 2 * COUNT, timeout(30))
            await asyncio.sleep(0)  # nothing more is on its way: a duplicate would be here
            assert received == list(range(2 * COUNT))
        finally:
            await client.disconnect()
            await publisher.disconnect()


async def test_default_client_falls_back_within_the_bound(push_gateway: GatewayThread) -> None:
    """``PushClient(url, fallback_to_polling=True)`` as the seed writes it."""
    async with CuttingProxy(push_gateway.port) as proxy:
        proxy.refuse_upgrades = True
        client = AsyncPushClient(proxy.url(), fallback_to_polling=True)
        try:
            started = time.monotonic()
            await client.connect()
            assert time.monotonic() - started < 5.0
            assert client.transport == "polling"
        finally:
            await client.disconnect()


async def test_a_cut_websocket_falls_back_to_polling(push_gateway: GatewayThread) -> None:
    async with CuttingProxy(push_gateway.port) as proxy:
        chooser = TransportChooser(["websocket", "polling"], upgrade_interval=None)
        client = AsyncPushClient(proxy.url(), client_id="cut", transport_factory=chooser)
        publisher = AsyncPushClient(push_gateway.url)
        received: list[Any] = []

        async def on_message(message: ChannelMessage) -> None:
            received.append(message.data)

        try:
            await client.connect()
            await publisher.connect()
            assert client.transport == "websocket"
            await client.subscribe("cut-feed", on_message)
            await _publish_range(publisher, "cut-feed", 0, 10)
            await wait_until(lambda: len(received) == 10)
            proxy.refuse_upgrades = True
            assert proxy.cut() >= 1
            await _publish_range(publisher, "cut-feed", 10, 20)
            await wait_until(lambda: client.transport == "polling", timeout(10))
            await wait_until(lambda: len(received) >= 20, timeout(10))
            assert received == list(range(20))
        finally:
            await client.disconnect()
            await publisher.disconnect()


def test_forcing_one_transport_and_bad_names() -> None:
    with pytest.raises(ValueError, match="transports must be names"):
        AsyncPushClient("ws://127.0.0.1:1/ws", transports=["carrier-pigeon"])
    with pytest.raises(ValueError, match="transports must be names"):
        AsyncPushClient("ws://127.0.0.1:1/ws", transports=[])
    with pytest.raises(ValueError, match="not both"):
        AsyncPushClient(
            "ws://127.0.0.1:1/ws",
            transports=["polling"],
            transport_factory=TransportChooser(["sse"]),
        )
    forced = AsyncPushClient("ws://127.0.0.1:1/ws", transports=["sse"])
    assert forced.transport is None  # nothing connected yet


async def test_the_blocking_client_falls_back_unchanged(push_gateway: GatewayThread) -> None:
    """``praison_push.sync.PushClient`` as it is: it gets the fallback with nothing to change."""
    from praison_push.sync import PushClient

    async with CuttingProxy(push_gateway.port) as proxy:
        proxy.refuse_upgrades = True
        # The proxy runs on this loop: the blocking calls go to a thread.
        client = await asyncio.to_thread(PushClient, proxy.url(), client_id="blocking")
        other = await asyncio.to_thread(PushClient, push_gateway.url)
        try:
            await asyncio.to_thread(client.connect)
            await asyncio.to_thread(other.connect)
            assert client.transport == "polling"
            got: list[Any] = []
            await asyncio.to_thread(client.subscribe, "sync-feed", lambda m: got.append(m.data))
            await asyncio.to_thread(other.publish, "sync-feed", {"hello": "sync"})
            await wait_until(lambda: got == [{"hello": "sync"}], timeout(10))
        finally:
            await asyncio.to_thread(client.close)
            await asyncio.to_thread(other.close)


async def test_a_swallowed_upgrade_falls_back_within_fallback_timeout(
    push_gateway: GatewayThread,
) -> None:
    async with CuttingProxy(push_gateway.port) as proxy:
        proxy.stall_upgrades = True
        chooser = TransportChooser(["websocket", "polling"], fallback_timeout=0.2)
        client = AsyncPushClient(proxy.url(), transport_factory=chooser)
        try:
            started = time.monotonic()
            await client.connect()
            elapsed = time.monotonic() - started
            assert client.transport == "polling" and proxy.refused == 1
            assert 0.2 <= elapsed < 0.2 + timeout(2)
        finally:
            await client.disconnect()


async def test_a_websocket_cut_right_after_the_upgrade_falls_back_and_stays(
    push_gateway: GatewayThread,
) -> None:
    async with CuttingProxy(push_gateway.port) as proxy:
        proxy.cut_upgrades = True  # the upgrade succeeds; the traffic is killed
        chooser = TransportChooser(["websocket", "polling"], upgrade_interval=0.1)
        client = AsyncPushClient(proxy.url(), transport_factory=chooser)
        changes = Recorder()
        client.on("transport_changed")(changes)
        try:
            started = time.monotonic()
            await client.connect()
            assert time.monotonic() - started < 5.0
            assert client.transport == "polling"
            # The probe keeps finding WebSocket cut: no switch back and forth.
            await wait_until(lambda: proxy.refused >= 3, timeout(5))
            assert client.transport == "polling" and not changes.calls
            proxy.cut_upgrades = False
            (change,) = await changes.wait(1, timeout(5))
            assert change == {"transport": "websocket", "previous": "polling"}
        finally:
            await client.disconnect()
