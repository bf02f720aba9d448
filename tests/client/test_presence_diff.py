"""A ``presence_diff`` reaches handlers as the single presence events it stands for
(PROTOCOL.md §8), over the in-memory transport and over a real gateway."""

from __future__ import annotations

import asyncio
from typing import Any

from support import Recorder, timeout

from praison_push.client import AsyncPushClient
from praison_push.client.session import ClientSession, Emit
from praison_push.config import GatewayConfig, PresenceConfig, PushConfig
from praison_push.server import GatewayThread
from praison_push.testing import MemoryTransportFactory

from .helpers import WAIT


def test_the_session_reads_a_diff_as_single_events_then_the_diff() -> None:
    diff = {
        "type": "presence_diff",
        "channel": "room",
        "data": {
            "joins": [{"client_id": "a", "status": "online", "metadata": {}}],
            "updates": [],
            "leaves": [{"client_id": "c", "status": "offline", "metadata": {}}],
        },
        "event_id": "d1",
        "timestamp": 2.0,
    }
    actions = ClientSession().receive(diff)
    emits = [action for action in actions if isinstance(action, Emit)]
    assert emits == actions
    emitted = [(emit.event, emit.payload["data"].get("client_id")) for emit in emits]
    assert emitted == [("presence_join", "a"), ("presence_leave", "c"), ("presence_diff", None)]


async def test_a_diff_fires_one_single_event_per_client_then_itself(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    order = Recorder()
    for kind in ("presence_join", "presence_update", "presence_leave", "presence_diff"):
        client.on(kind)(lambda frame, kind=kind: order((kind, frame)))
    diff = {
        "type": "presence_diff",
        "channel": "room",
        "data": {
            "joins": [{"client_id": "a", "status": "online", "metadata": {}}],
            "updates": [{"client_id": "b", "status": "away", "metadata": {"k": 1}}],
            "leaves": [{"client_id": "c", "status": "offline", "metadata": {}}],
        },
        "event_id": "d1",
        "timestamp": 2.0,
    }
    factory.last.feed(diff)
    calls = await order.wait(4)
    assert [(kind, frame.get("data", {}).get("client_id")) for kind, frame in calls] == [
        ("presence_join", "a"),
        ("presence_update", "b"),
        ("presence_leave", "c"),
        ("presence_diff", None),
    ]
    assert calls[1][1] == {
        "type": "presence_update",
        "channel": "room",
        "data": {"client_id": "b", "status": "away", "metadata": {"k": 1}},
        "event_id": "d1",
        "timestamp": 2.0,
    }
    assert calls[3][1] == diff


async def test_joins_that_arrive_batched_reach_join_handlers(gateway_factory: Any) -> None:
    # A channel of at most 5 members may send 5 presence frames at once per interval:
    # o0's and o1's joins (1 and 2 frames) go at once, o2's and o3's (3 and 4) wait and
    # come as one diff. Half a second (scaled): ample for them to join within one
    # interval, each a round trip of milliseconds.
    presence = PresenceConfig(broadcast_interval=timeout(0.5), max_broadcast_members=5)
    gateway: GatewayThread = gateway_factory(
        GatewayConfig(push=PushConfig(enabled=True, presence=presence))
    )
    clients = [
        AsyncPushClient(gateway.url, client_id=name, request_timeout=WAIT)
        for name in ("watcher", "o0", "o1", "o2", "o3")
    ]
    watcher, others = clients[0], clients[1:]
    joins, diffs = Recorder(), Recorder()
    watcher.on("presence_join")(joins)
    watcher.on("presence_diff")(diffs)
    try:
        for client in clients:
            await client.connect()
        await watcher.subscribe("room")
        for other in others:
            await other.subscribe("room")
        got = await joins.wait(4)
        assert sorted(frame["data"]["client_id"] for frame in got) == ["o0", "o1", "o2", "o3"]
        (diff,) = await diffs.wait(1)
        assert sorted(e["client_id"] for e in diff["data"]["joins"]) == ["o2", "o3"]
    finally:
        await asyncio.gather(*(client.disconnect() for client in clients))
