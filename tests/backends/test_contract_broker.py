"""Broker contract (backends/base.py): every node's handler sees each channel in order."""

from __future__ import annotations

from typing import Any

from praison_push.backends import Broker

from .conftest import BackendKit, wait_until


def frame(n: int, channel: str = "c") -> dict[str, Any]:
    return {"type": "channel_message", "channel": channel, "data": n, "event_id": f"e{n}"}


async def test_handler_gets_channel_and_frame(backend: BackendKit) -> None:
    broker = backend.broker()
    seen: list[tuple[str, dict[str, Any]]] = []

    def handler(channel: str, message: dict[str, Any]) -> int:
        seen.append((channel, message))
        return 3

    broker.set_handler(handler)
    sent = frame(1, "alerts")
    assert await broker.publish("alerts", sent) == 3  # this node's deliveries
    await wait_until(lambda: len(seen) == 1)
    assert seen == [("alerts", sent)]


async def test_publications_keep_their_order_per_channel(backend: BackendKit) -> None:
    broker = backend.broker()
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def handler(channel: str, message: dict[str, Any]) -> int:
        seen[channel].append(message["data"])
        return 0

    broker.set_handler(handler)
    for n in range(50):
        await broker.publish("a", frame(n, "a"))
        await broker.publish("b", frame(n, "b"))
    await wait_until(lambda: len(seen["a"]) == 50 and len(seen["b"]) == 50)
    assert seen["a"] == list(range(50))
    assert seen["b"] == list(range(50))


async def test_no_handler_means_no_local_deliveries(backend: BackendKit) -> None:
    broker = backend.broker()
    assert await broker.publish("c", frame(1)) == 0


async def test_a_new_handler_replaces_the_old(backend: BackendKit) -> None:
    broker = backend.broker()
    first: list[int] = []
    second: list[int] = []

    def old(channel: str, message: dict[str, Any]) -> int:
        first.append(message["data"])
        return 0

    def new(channel: str, message: dict[str, Any]) -> int:
        second.append(message["data"])
        return 1

    broker.set_handler(old)
    broker.set_handler(new)
    assert await broker.publish("c", frame(7)) == 1
    await wait_until(lambda: second == [7])
    assert first == []


def test_the_broker_satisfies_the_protocol(backend: BackendKit) -> None:
    assert isinstance(backend.broker(), Broker)
