"""Acceptance: redelivery, dead letters, nacks and manual acks over a real gateway.

A real uvicorn gateway on 127.0.0.1:0 with a short ``ack_timeout``; a raw
``websockets`` client that never acknowledges, the package's own clients
for the rest. Every wait is on a condition.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from support import Recorder, next_frame, raw_client, timeout, wait_until

from praison_push.client import AsyncPushClient, ChannelMessage
from praison_push.config import DeliveryConfig, GatewayConfig, PushConfig
from praison_push.server import GatewayThread

from .helpers import tapped

ACK_TIMEOUT = 0.1


def config(**delivery: Any) -> GatewayConfig:
    fields = {"ack_timeout": ACK_TIMEOUT, "max_retries": 2, **delivery}
    return GatewayConfig(port=0, push=PushConfig(enabled=True, delivery=DeliveryConfig(**fields)))


async def dead_letters(gateway: GatewayThread) -> tuple[AsyncPushClient, Recorder]:
    """An operator's client reading ``$dead-letter`` (anonymous read is allowed for now)."""
    letters = Recorder()
    operator = AsyncPushClient(gateway.url, client_id="operator")
    await operator.connect()
    await operator.subscribe("$dead-letter", letters)
    return operator, letters


async def test_a_subscriber_that_never_acks_is_retried_then_dead_lettered(
    gateway_factory: Callable[..., GatewayThread],
) -> None:
    # The shortest ack_timeout: a client that never acks has no deadline to meet.
    ack_timeout = 0.05
    gateway = gateway_factory(config(ack_timeout=ack_timeout))
    operator, letters = await dead_letters(gateway)
    publisher = AsyncPushClient(gateway.url)
    await publisher.connect()
    try:
        async with raw_client(gateway.url + "?client_id=silent") as silent:
            await silent.send(json.dumps({"type": "channel.subscribe", "channel": "jobs"}))
            assert (await next_frame(silent))["type"] == "channel.subscribed"
            receipt = await publisher.publish("jobs", {"job": 1})
            loop = asyncio.get_running_loop()
            copies, times = [], []
            for _ in range(3):
                copies.append(await next_frame(silent, 5))
                times.append(loop.time())
            assert {c["event_id"] for c in copies} == {receipt.event_id}
            assert [(c.get("_redelivered"), c.get("_retry_count")) for c in copies] == [
                (None, None),
                (True, 1),
                (True, 2),
            ]
            # Backoff: ack_timeout × 2^0 before the first retry, × 2^1 before the second.
            assert times[1] - times[0] >= 0.9 * ack_timeout
            assert times[2] - times[1] >= 0.9 * 2 * ack_timeout
            (letter,) = await letters.wait(1)
            assert letter.data == {
                "channel": "jobs",
                "message": copies[0],
                "client_id": "silent",
                "reason": "max_retries",
                "retries": 2,
            }
            # Dropped from tracking: an acknowledgement now comes too late.
            await silent.send(json.dumps({"type": "message_ack", "event_id": receipt.event_id}))
            late = await next_frame(silent)
            assert (late["type"], late["ok"]) == ("ack_received", False)
    finally:
        await publisher.disconnect()
        await operator.disconnect()


async def test_a_nack_dead_letters_at_once(gateway_factory: Callable[..., GatewayThread]) -> None:
    gateway = gateway_factory(config(ack_timeout=60))
    operator, letters = await dead_letters(gateway)
    got: list[ChannelMessage] = []
    worker = AsyncPushClient(gateway.url, client_id="worker", auto_ack=False)
    publisher = AsyncPushClient(gateway.url)
    await worker.connect()
    await publisher.connect()
    try:
        await worker.subscribe("jobs", got.append)
        await publisher.publish("jobs", {"job": "poison"})
        await wait_until(lambda: len(got) == 1)
        assert await got[0].nack("cannot parse") is True
        (letter,) = await letters.wait(1)  # long before ack_timeout (60 s)
        assert (letter.data["reason"], letter.data["client_id"]) == ("cannot parse", "worker")
        assert letter.data["message"]["event_id"] == got[0].event_id
        assert await got[0].nack("again") is False
        assert await got[0].ack() is False
    finally:
        await worker.disconnect()
        await publisher.disconnect()
        await operator.disconnect()


async def test_a_manual_ack_is_not_redelivered(
    gateway_factory: Callable[..., GatewayThread],
) -> None:
    # One retry is enough to see a redelivery, and the witness's dead letter comes
    # after ack_timeout × (1 + 2), not × (1 + 2 + 4).
    gateway = gateway_factory(config(max_retries=1))
    operator, letters = await dead_letters(gateway)
    wire: list[dict[str, Any]] = []
    handled: list[ChannelMessage] = []
    careful = AsyncPushClient(
        gateway.url, client_id="careful", auto_ack=False, transport_factory=tapped(wire)
    )
    publisher = AsyncPushClient(gateway.url)
    await careful.connect()
    await publisher.connect()
    try:
        await careful.subscribe("jobs", handled.append)
        async with raw_client(gateway.url + "?client_id=witness") as witness:
            # A witness on the same channel that never acks: its dead letter marks the
            # moment every retry of this publication is over.
            await witness.send(json.dumps({"type": "channel.subscribe", "channel": "jobs"}))
            assert (await next_frame(witness))["type"] == "channel.subscribed"
            await publisher.publish("jobs", {"job": 2})
            await wait_until(lambda: len(handled) == 1)
            assert await handled[0].ack() is True
            (letter,) = await letters.wait(1, seconds=timeout(10))
            assert letter.data["client_id"] == "witness"
        assert [frame.get("_redelivered", False) for frame in wire] == [False]
        assert len(handled) == 1
    finally:
        await careful.disconnect()
        await publisher.disconnect()
        await operator.disconnect()


async def test_a_handler_that_raised_gets_the_message_again(
    gateway_factory: Callable[..., GatewayThread],
) -> None:
    gateway = gateway_factory(config())
    attempts: list[tuple[int, bool]] = []

    def flaky(message: ChannelMessage) -> None:
        attempts.append((message.retry_count, message.redelivered))
        if len(attempts) == 1:
            raise RuntimeError("transient failure")

    client = AsyncPushClient(gateway.url, client_id="flaky")
    publisher = AsyncPushClient(gateway.url)
    await client.connect()
    await publisher.connect()
    try:
        await client.subscribe("jobs", flaky)
        await publisher.publish("jobs", {"job": 3})
        await wait_until(lambda: len(attempts) == 2)
        assert attempts == [(0, False), (1, True)]
        hub = gateway.gateway.hub  # type: ignore[union-attr]
        await wait_until(lambda: gateway.call(hub.stats)["delivery"]["pending"] == 0)
    finally:
        await client.disconnect()
        await publisher.disconnect()


async def test_no_delivery_tracking_is_plain_pub_sub(
    gateway_factory: Callable[..., GatewayThread],
) -> None:
    gateway = gateway_factory(config(enabled=False))
    async with raw_client(gateway.url + "?client_id=silent") as silent:
        await silent.send(json.dumps({"type": "channel.subscribe", "channel": "jobs"}))
        await next_frame(silent)
        publisher = AsyncPushClient(gateway.url)
        await publisher.connect()
        try:
            receipt = await publisher.publish("jobs", 1)
            assert (await next_frame(silent))["event_id"] == receipt.event_id
            await silent.send(json.dumps({"type": "message_ack", "event_id": receipt.event_id}))
            assert (await next_frame(silent))["ok"] is False
            assert "delivery" not in gateway.call(gateway.gateway.hub.stats)  # type: ignore[union-attr]
        finally:
            await publisher.disconnect()
