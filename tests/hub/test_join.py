"""Joining a channel while history is read: no gap, no duplicate, on any backend.

With Redis, reading history is an await: publications keep arriving while a
subscribe reads, and some of them are already in what it read. These tests use
memory backends that yield where Redis would — a history read that waits on a
gate, and a broker whose deliveries stay in flight until ``sync()`` — and check
that the subscriber sees every message exactly once, in offset order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from support import timeout, wait_until

from praison_push.backends import (
    BackendUnavailableError,
    Broker,
    HistoryRead,
    HistoryStore,
    MemoryBroker,
    MemoryHistoryStore,
)
from praison_push.config import GatewayConfig, HistoryConfig
from praison_push.hub import Connection, Hub

from .helpers import drain, join, publish


class GatedHistory(MemoryHistoryStore):
    """A memory store whose next read waits on ``gate``, before or after its snapshot."""

    def __init__(self, *, snapshot_first: bool) -> None:
        super().__init__(HistoryConfig())
        self.snapshot_first = snapshot_first
        self.gate = asyncio.Event()
        self.reading = asyncio.Event()

    async def read(
        self,
        channel: str,
        *,
        since: tuple[int, str] | None = None,
        limit: int | None = None,
    ) -> HistoryRead:
        if since is not None and limit is not None:
            # A recovering subscribe's first look at the gap (paged if large): not
            # the read that joins the live stream, which is the one gated here.
            return await super().read(channel, since=since, limit=limit)
        self.reading.set()
        if self.snapshot_first:
            result = await super().read(channel, since=since, limit=limit)
            await self.gate.wait()
            return result
        await self.gate.wait()
        return await super().read(channel, since=since, limit=limit)


class InFlightBroker(MemoryBroker):
    """Deliveries wait until :meth:`sync`, like publications still on their way from Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, channel: str, frame: dict[str, Any]) -> int:
        self.in_flight.append((channel, frame))
        return 0

    async def sync(self) -> None:
        await asyncio.sleep(0)  # yields, as a round trip to Redis would
        flights, self.in_flight = self.in_flight, []
        for channel, frame in flights:
            if self._handler is not None:
                self._handler(channel, frame)


class BrokenHistory(MemoryHistoryStore):
    async def read(self, channel: str, **kwargs: Any) -> HistoryRead:
        await asyncio.sleep(0)
        raise BackendUnavailableError("Redis is unavailable: connection refused")


MakeHub = Callable[[HistoryStore, Broker], Hub]


@pytest.fixture
async def make_hub() -> AsyncIterator[MakeHub]:
    hubs: list[Hub] = []

    def make(history: HistoryStore, broker: Broker) -> Hub:
        hub = Hub(GatewayConfig(), history=history, broker=broker)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


def subscribe_text(channel: str, **fields: Any) -> str:
    return json.dumps({"type": "channel.subscribe", "channel": channel, **fields})


def summary(frames: list[dict[str, Any]]) -> list[Any]:
    """``("subscribed", offset, recovered)`` for the reply, the data of each message."""
    shown: list[Any] = []
    for frame in frames:
        if frame["type"] == "channel.subscribed":
            shown.append(("subscribed", frame["offset"], frame["recovered"]))
        elif frame["type"] == "channel_message":
            shown.append(frame["data"])
    return shown


async def start_joining(
    hub: Hub, history: GatedHistory, connection: Connection, **fields: Any
) -> Any:
    """Send a subscribe and return its task once it waits inside the history read."""
    task = asyncio.create_task(hub.receive(connection, subscribe_text("news", **fields)))
    await asyncio.wait_for(history.reading.wait(), timeout(2))
    return task


async def finish(history: GatedHistory, task: Any) -> None:
    history.gate.set()
    await asyncio.wait_for(task, timeout(2))


@pytest.mark.parametrize("snapshot_first", [True, False])
async def test_recovery_joins_live_without_gap_or_duplicate(
    make_hub: MakeHub, snapshot_first: bool
) -> None:
    history = GatedHistory(snapshot_first=snapshot_first)
    hub = make_hub(history, MemoryBroker())
    publisher, subscriber = join(hub, "pub"), join(hub, "sub")
    first = await publish(hub, publisher, "news", 1)
    await publish(hub, publisher, "news", 2)
    task = await start_joining(
        hub, history, subscriber, since={"offset": first["offset"], "epoch": history.epoch}
    )
    await publish(hub, publisher, "news", 3)  # arrive while the subscribe reads
    await publish(hub, publisher, "news", 4)
    await finish(history, task)
    offset = 2 if snapshot_first else 4  # the read saw 3 and 4, or did not
    assert summary(drain(subscriber)) == [("subscribed", offset, True), 2, 3, 4]
    await publish(hub, publisher, "news", 5)
    assert summary(drain(subscriber)) == [5]
    assert hub.node.joining == 0


@pytest.mark.parametrize("snapshot_first", [True, False])
async def test_a_live_start_gets_what_came_after_its_position(
    make_hub: MakeHub, snapshot_first: bool
) -> None:
    history = GatedHistory(snapshot_first=snapshot_first)
    hub = make_hub(history, MemoryBroker())
    publisher, subscriber = join(hub, "pub"), join(hub, "sub")
    await publish(hub, publisher, "news", 1)
    task = await start_joining(hub, history, subscriber)
    await publish(hub, publisher, "news", 2)
    await finish(history, task)
    # Either the reply says offset 1 and 2 follows live, or it says 2 and nothing follows.
    expected = [("subscribed", 1, True), 2] if snapshot_first else [("subscribed", 2, True)]
    assert summary(drain(subscriber)) == expected


async def test_publications_in_flight_before_the_read_are_not_delivered_again(
    make_hub: MakeHub,
) -> None:
    broker = InFlightBroker()
    hub = make_hub(MemoryHistoryStore(HistoryConfig()), broker)
    publisher, subscriber, watcher = join(hub, "pub"), join(hub, "sub"), join(hub, "watch")
    await hub.receive(watcher, subscribe_text("news"))
    for n in (1, 2, 3):
        await publish(hub, publisher, "news", n)  # stored, still on their way
    await hub.receive(subscriber, subscribe_text("news"))  # live start at offset 3
    await publish(hub, publisher, "news", 4)
    await broker.sync()
    assert summary(drain(subscriber)) == [("subscribed", 3, True), 4]
    assert summary(drain(watcher)) == [("subscribed", 0, True), 1, 2, 3, 4]


async def test_held_publications_follow_the_rules_of_live_ones(make_hub: MakeHub) -> None:
    history = GatedHistory(snapshot_first=True)
    hub = make_hub(history, MemoryBroker())
    publisher, subscriber = join(hub, "pub"), join(hub, "sub")
    other_connection_of_sub = join(hub, "sub")
    task = await start_joining(hub, history, subscriber, filters={"kind": "a"})
    await publish(hub, publisher, "news", {"kind": "a"})
    await publish(hub, publisher, "news", {"kind": "b"})  # filtered out
    await publish(hub, other_connection_of_sub, "news", {"kind": "a", "own": True})  # own client
    await finish(history, task)
    assert summary(drain(subscriber)) == [("subscribed", 0, True), {"kind": "a"}]


async def test_a_connection_that_closes_during_the_read_is_not_subscribed(
    make_hub: MakeHub,
) -> None:
    history = GatedHistory(snapshot_first=True)
    hub = make_hub(history, MemoryBroker())
    subscriber = join(hub, "sub")
    task = await start_joining(hub, history, subscriber)
    hub.disconnect(subscriber)
    await finish(history, task)
    assert hub.channels.get("news") is None  # nobody listens: not kept
    assert subscriber.subscriptions == {}
    assert hub.node.joining == 0


async def test_a_resubscribe_gets_live_publications_live(make_hub: MakeHub) -> None:
    history = GatedHistory(snapshot_first=True)
    hub = make_hub(history, MemoryBroker())
    publisher, subscriber = join(hub, "pub"), join(hub, "sub")
    history.gate.set()
    await hub.receive(subscriber, subscribe_text("news"))
    history.gate.clear()
    history.reading.clear()
    await publish(hub, publisher, "news", 1)
    task = await start_joining(
        hub, history, subscriber, since={"offset": 0, "epoch": history.epoch}
    )
    assert hub.node.joining == 0  # nothing is held for a connection that is already subscribed
    await publish(hub, publisher, "news", 2)
    await finish(history, task)
    # 1 and 2 came live at once; the replay asked for with since repeats what was read.
    expected = [("subscribed", 0, True), 1, 2, ("subscribed", 1, True), 1]
    assert summary(drain(subscriber)) == expected


async def test_an_unavailable_backend_is_an_error_frame_and_holds_nothing(
    make_hub: MakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub(BrokenHistory(HistoryConfig()), MemoryBroker())
    subscriber = join(hub, "sub")
    with caplog.at_level(logging.WARNING, "praison_push.hub"):
        await hub.receive(subscriber, subscribe_text("news", ref=7))
    [error] = drain(subscriber)
    assert (error["type"], error["code"], error["ref"]) == ("error", "internal", 7)
    assert "backend unavailable" in error["message"]
    assert hub.node.joining == 0
    assert subscriber.subscriptions == {}
    assert not any(record.exc_info for record in caplog.records)  # one line, no traceback


class OneGatePerRead(MemoryHistoryStore):
    """A memory store whose reads snapshot at once, then each waits on a gate of its own."""

    def __init__(self) -> None:
        super().__init__(HistoryConfig())
        self.gates: list[asyncio.Event] = []

    async def read(
        self,
        channel: str,
        *,
        since: tuple[int, str] | None = None,
        limit: int | None = None,
    ) -> HistoryRead:
        result = await super().read(channel, since=since, limit=limit)
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return result


async def test_two_joiners_each_keep_their_own_held_publications(make_hub: MakeHub) -> None:
    """Regression: a joiner that finished first removed the other's (equal, empty) buffer,
    so publications meanwhile were not held for the other, whose own removal then failed
    with "list.remove(x): x not in list" (an internal error instead of a subscription)."""
    history = OneGatePerRead()
    hub = make_hub(history, MemoryBroker())
    publisher, first, second = join(hub, "pub"), join(hub, "first"), join(hub, "second")
    slow = asyncio.create_task(hub.receive(first, subscribe_text("news")))
    await wait_until(lambda: len(history.gates) == 1, 2)
    fast = asyncio.create_task(hub.receive(second, subscribe_text("news")))
    await wait_until(lambda: len(history.gates) == 2, 2)
    history.gates[1].set()  # the later joiner finishes first
    await asyncio.wait_for(fast, timeout(2))
    await publish(hub, publisher, "news", 1)  # while the first joiner still reads
    history.gates[0].set()
    await asyncio.wait_for(slow, timeout(2))
    assert summary(drain(first)) == [("subscribed", 0, True), 1]
    assert summary(drain(second)) == [("subscribed", 0, True), 1]
    assert hub.node.joining == 0
