"""Broker contract (backends/base.py): every node's handler sees each channel in order."""

from __future__ import annotations

from typing import Any

from support import Recorder, wait_until

from praison_push.backends import Broker

from .helpers import BackendKit


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


# --- ready / sync / append_and_publish (added with the Redis backend) ----------------------------


async def test_ready_is_idempotent(backend: BackendKit) -> None:
    broker = backend.broker()
    handler = Recorder(returns=1)
    broker.set_handler(handler)
    await broker.ready()
    await broker.ready()
    assert await broker.publish("c", frame(1)) == 1
    await broker.sync()
    assert handler.calls == [("c", frame(1))]  # one listener: delivered once


async def test_sync_means_everything_published_was_handled(backend: BackendKit) -> None:
    broker = backend.broker()
    seen: list[int] = []

    def handler(channel: str, message: dict[str, Any]) -> int:
        seen.append(message["data"])
        return 0

    broker.set_handler(handler)
    await broker.ready()
    for n in range(20):
        await broker.publish("c", frame(n))
    await broker.sync()
    assert seen == list(range(20))  # no waiting: sync is the barrier


async def test_append_and_publish_stamps_stores_and_delivers(backend: BackendKit) -> None:
    broker = backend.broker()
    store = backend.history()
    seen: list[dict[str, Any]] = []

    def handler(channel: str, message: dict[str, Any]) -> int:
        seen.append(dict(message))
        return 2

    broker.set_handler(handler)
    first, second = frame(1), frame(2)
    assert await broker.append_and_publish(store, "c", first) == 2
    assert await broker.append_and_publish(store, "c", second) == 2
    epoch = first["epoch"]
    assert (first["offset"], second["offset"], second["epoch"]) == (1, 2, epoch)
    await wait_until(lambda: len(seen) == 2)
    assert [(m["offset"], m["epoch"], m["data"]) for m in seen] == [(1, epoch, 1), (2, epoch, 2)]
    read = await store.read("c")
    assert [(m["offset"], m["data"], m["event_id"]) for m in read.messages] == [
        (1, 1, "e1"),
        (2, 2, "e2"),
    ]


async def test_append_and_publish_with_no_handler(backend: BackendKit) -> None:
    broker = backend.broker()
    store = backend.history()
    message = frame(1)
    assert await broker.append_and_publish(store, "c", message) == 0
    assert message["offset"] == 1
    assert (await store.read("c")).offset == 1


async def test_closing_twice_is_fine_and_a_closed_broker_delivers_nothing(
    backend: BackendKit,
) -> None:
    broker = backend.broker()
    handler = Recorder(returns=1)
    broker.set_handler(handler)
    await broker.ready()
    await broker.close()
    await broker.close()
    assert await broker.publish("c", frame(1)) == 0
    assert handler.calls == []
