"""Presence at scale: changes coalesced per interval, none above a member count or on
channels whose pattern turns them off, and a join cost that grows linearly (PROTOCOL.md §8)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError
from support import FakeClock, wait_until

from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import GatewayConfig, PresenceConfig, PushConfig
from praison_push.hub import ANONYMOUS, Connection, Hub, Principal
from praison_push.protocol import frames as f
from praison_push.protocol.presence import presence_events

from .helpers import MakeHub, drain, join, request, subscribe


def presence_config(**fields: Any) -> GatewayConfig:
    return GatewayConfig(push=PushConfig(enabled=True, presence=PresenceConfig(**fields)))


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["type"] for frame in frames]


def listed(diff: dict[str, Any], key: str) -> list[str]:
    return sorted(entry["client_id"] for entry in diff["data"][key])


async def test_changes_within_an_interval_go_out_as_one_diff(hub: Hub, clock: FakeClock) -> None:
    alice = join(hub, "alice")
    await subscribe(hub, alice, "room")
    others = [join(hub, name) for name in ("bob", "carol", "dave", "erin")]
    for connection in others:
        await subscribe(hub, connection, "room")
    # The first change after a quiet interval goes out at once, as PraisonAI sends it.
    (first,) = drain(alice)
    assert (first["type"], first["data"]["client_id"]) == ("presence_join", "bob")
    assert hub.node.presence.waiting == 1
    hub.sweep(clock.now)
    assert drain(alice) == []  # the interval has not ended
    clock.advance(1)
    hub.sweep(clock.now)
    (diff,) = drain(alice)
    f.PresenceDiffFrame.model_validate(diff)
    assert diff == {
        "type": "presence_diff",
        "channel": "room",
        "data": {
            "joins": [
                {"client_id": name, "status": "online", "metadata": {}}
                for name in ("carol", "dave", "erin")
            ],
            "updates": [],
            "leaves": [],
        },
        "event_id": diff["event_id"],
        "timestamp": clock.now,
    }
    # One frame for every subscriber, the clients it lists included; bob did not
    # hear his own join.
    assert [kinds(drain(c)) for c in others] == [["presence_diff"]] * 4
    assert hub.node.presence.waiting == 0


async def test_every_subscriber_gets_the_one_diff(hub: Hub, clock: FakeClock) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")  # alice hears this at once
    carol, dave = join(hub, "carol"), join(hub, "dave")
    await subscribe(hub, carol, "room")
    await subscribe(hub, dave, "room")
    drain(alice)
    clock.advance(1)
    hub.sweep(clock.now)
    frames = {c.client_id: drain(c) for c in (alice, bob, carol, dave)}
    assert {name: kinds(got) for name, got in frames.items()} == {
        name: ["presence_diff"] for name in ("alice", "bob", "carol", "dave")
    }
    texts = {frames[name][0]["event_id"] for name in frames}
    assert len(texts) == 1  # the same frame, encoded once
    assert listed(frames["alice"][0], "joins") == ["carol", "dave"]


async def test_a_batch_of_one_change_is_the_single_event_frame(hub: Hub, clock: FakeClock) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")
    drain(alice)
    await request(hub, bob, "presence.heartbeat", status="away")
    assert drain(alice) == []  # within bob's join's interval: waits
    clock.advance(1)
    hub.sweep(clock.now)
    (update,) = drain(alice)
    f.PresenceEventFrame.model_validate(update)
    assert (update["type"], update["data"]) == (
        "presence_update",
        {"client_id": "bob", "status": "away", "metadata": {}},
    )
    assert drain(bob) == []  # a single event still skips its own client


@pytest.mark.parametrize(
    ("steps", "net"),
    [
        (["join", "leave"], "leaves"),  # a client that saw the join by query must see it go
        (["leave", "join"], "updates"),  # gone and back: still there, maybe changed
        (["join", "update"], "joins"),  # came, then changed: a join with the latest data
        (["update", "update"], "updates"),
        (["update", "leave"], "leaves"),
    ],
)
async def test_what_a_clients_changes_in_one_interval_amount_to(
    hub: Hub, clock: FakeClock, steps: list[str], net: str
) -> None:
    alice, bob, carol, dave = (join(hub, n) for n in ("alice", "bob", "carol", "dave"))
    await subscribe(hub, alice, "room")
    # Open an interval with a change alice hears at once: bob's own join when bob
    # is to be there from the start, else carol's.
    await subscribe(hub, bob if steps[0] != "join" else carol, "room")
    assert kinds(drain(alice)) == ["presence_join"]
    for index, step in enumerate(steps):
        if step == "join":
            await subscribe(hub, bob, "room")
        elif step == "leave":
            await request(hub, bob, "channel.unsubscribe", channel="room")
        else:
            await request(hub, bob, "presence.heartbeat", status=f"s{index}")
        clock.advance(0.1)
    await subscribe(hub, dave, "room")  # a second change: the batch goes out as a diff
    assert drain(alice) == []
    clock.advance(1)
    hub.sweep(clock.now)
    (diff,) = drain(alice)
    assert diff["type"] == "presence_diff"
    assert listed(diff, net) == (["bob", "dave"] if net == "joins" else ["bob"])
    entries = [e for key in ("joins", "updates", "leaves") for e in diff["data"][key]]
    (entry,) = [e for e in entries if e["client_id"] == "bob"]
    assert entry["status"] == ("offline" if net == "leaves" else bob.status)
    assert len(entries) == 2


async def test_nothing_is_broadcast_above_max_broadcast_members(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(presence_config(max_broadcast_members=3))
    alice, bob, carol, dave = (join(hub, n) for n in ("alice", "bob", "carol", "dave"))
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")
    assert kinds(drain(alice)) == ["presence_join"]
    await subscribe(hub, carol, "room")  # 3 members: still announced (batched)
    await subscribe(hub, dave, "room")  # 4 members: dave's join is not
    clock.advance(1)
    hub.sweep(clock.now)
    # The batch holding carol's join is dropped too: the channel is past the bound.
    assert drain(alice) == drain(bob) == []
    await request(hub, dave, "presence.heartbeat", status="away")
    clock.advance(1)
    hub.sweep(clock.now)
    assert drain(alice) == []
    # Queries still answer, with everyone.
    reply = await request(hub, alice, "presence.query", channel="room")
    assert sorted(e["client_id"] for e in reply["presence"]) == ["alice", "bob", "carol", "dave"]
    # Back at the bound, changes are broadcast again (dave's leave brings it there).
    await request(hub, dave, "channel.unsubscribe", channel="room")
    (leave,) = drain(alice)
    assert (leave["type"], leave["data"]["client_id"]) == ("presence_leave", "dave")


def test_max_broadcast_members_and_the_interval_are_validated() -> None:
    with pytest.raises(ValidationError, match="max_broadcast_members"):
        PresenceConfig(max_broadcast_members=0)
    with pytest.raises(ValidationError, match="broadcast_interval"):
        PresenceConfig(broadcast_interval=-1)
    with pytest.raises(ValidationError, match="broadcast_interval"):
        PresenceConfig(broadcast_interval=61)
    with pytest.raises(ValidationError, match="no_broadcast_channels"):
        PresenceConfig(no_broadcast_channels=[""])
    with pytest.raises(ValidationError, match="no_broadcast_channels"):
        PresenceConfig(no_broadcast_channels=["x" * 201])
    with pytest.raises(ValidationError, match="no_broadcast_channels"):
        PresenceConfig(no_broadcast_channels=[f"p{n}" for n in range(101)])
    config = PresenceConfig()
    assert (
        config.broadcast_interval,
        config.max_broadcast_members,
        config.no_broadcast_channels,
    ) == (1.0, 1_000, [])


@pytest.mark.parametrize(
    ("channel", "announced"),
    [("public.lobby", False), ("public", True), ("room", True), ("notifications", False)],
)
async def test_no_broadcast_channels_turn_events_off_by_pattern(
    make_hub: MakeHub, channel: str, announced: bool
) -> None:
    hub = make_hub(presence_config(no_broadcast_channels=["public.*", "notif*"]))
    org = Principal("u", "acme")  # org-scoped: matched by the name clients use
    alice, bob = join(hub, "alice", principal=org), join(hub, "bob", principal=org)
    await subscribe(hub, alice, channel)
    await subscribe(hub, bob, channel)
    assert kinds(drain(alice)) == (["presence_join"] if announced else [])
    reply = await request(hub, alice, "presence.query", channel=channel)
    assert sorted(e["client_id"] for e in reply["presence"]) == ["alice", "bob"]


async def test_interval_zero_sends_every_change_at_once(make_hub: MakeHub) -> None:
    hub = make_hub(presence_config(broadcast_interval=0))
    alice = join(hub, "alice")
    await subscribe(hub, alice, "room")
    for name in ("bob", "carol", "dave"):
        await subscribe(hub, join(hub, name), "room")
    assert kinds(drain(alice)) == ["presence_join"] * 3
    assert hub.node.presence.waiting == 0


async def test_a_lone_client_costs_no_interval(hub: Hub) -> None:
    # Nobody hears alice's own changes, so they do not delay bob's join.
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await request(hub, alice, "presence.heartbeat", status="busy")
    await subscribe(hub, bob, "room")
    assert kinds(drain(alice)) == ["presence_join"]


async def test_the_timer_sends_a_batch_without_the_upkeep() -> None:
    config = presence_config(broadcast_interval=0.05)
    hub = Hub(config, history=MemoryHistoryStore(config.history), broker=MemoryBroker())
    try:
        alice = join(hub, "alice")
        await subscribe(hub, alice, "room")
        for name in ("bob", "carol", "dave"):
            await subscribe(hub, join(hub, name), "room")
        started = time.monotonic()
        got: list[dict[str, Any]] = drain(alice)
        await wait_until(lambda: bool(got.extend(drain(alice)) or len(got) == 2), 3)
        assert kinds(got) == ["presence_join", "presence_diff"]
        assert listed(got[1], "joins") == ["carol", "dave"]
        assert time.monotonic() - started < 2
        assert hub.node.presence.waiting == 0
    finally:
        await hub.close()


async def test_a_batch_of_a_channel_that_went_away_is_dropped(hub: Hub, clock: FakeClock) -> None:
    alice, bob, carol = join(hub, "alice"), join(hub, "bob"), join(hub, "carol")
    for connection in (alice, bob, carol):
        await subscribe(hub, connection, "room")
    drain(alice)  # bob's join; carol's waits for the interval's end
    for connection in (alice, bob, carol):
        await request(hub, connection, "channel.unsubscribe", channel="room")
    assert "room" not in hub.channels
    clock.advance(1)
    hub.sweep(clock.now)
    assert hub.node.presence.waiting == 0
    assert [drain(c) for c in (alice, bob, carol)] == [[], [], []]


async def test_closing_the_hub_stops_the_presence_timer(make_hub: MakeHub) -> None:
    hub = make_hub(presence_config(broadcast_interval=30))
    alice = join(hub, "alice")
    await subscribe(hub, alice, "room")
    for name in ("bob", "carol"):
        await subscribe(hub, join(hub, name), "room")
    assert hub.node.presence.waiting == 1
    await hub.close()
    assert hub.node.presence.waiting == 0


# --- joining one channel: frames grow linearly ------------------------------------------------


async def frames_while_joining(make_hub: MakeHub, clock: FakeClock, n: int) -> int:
    """Frames ``n`` clients receive while subscribing to one channel, 2 ms apart."""
    hub = make_hub(presence_config(max_broadcast_members=20))
    connections: list[Connection] = []
    received = 0
    for index in range(n):
        connection = hub.connect(client_id=f"c{index}", principal=ANONYMOUS, peer="127.0.0.1")
        connections.append(connection)
        await hub.receive(connection, '{"type":"channel.subscribe","channel":"big"}')
        clock.advance(0.002)
        hub.sweep(clock.now)
        for each in connections:
            received += len(each.drain())
    clock.advance(1)
    hub.sweep(clock.now)
    received += sum(len(each.drain()) for each in connections)
    return received


async def test_frames_while_joining_grow_linearly_not_quadratically(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    counts = {n: await frames_while_joining(make_hub, clock, n) for n in (50, 100, 200, 400)}
    # Past max_broadcast_members, a client costs its greeting and its subscribe reply only.
    assert counts[400] - counts[200] == 2 * 200
    assert counts[200] - counts[100] == 2 * 100
    assert counts[100] - counts[50] == 2 * 50
    # Announcing every join to everyone (as before) cost N(N-1)/2 frames on top.
    assert counts[400] < 400 * 399 // 2


def test_presence_events_read_a_diff_as_single_events() -> None:
    diff = {
        "type": "presence_diff",
        "channel": "room",
        "data": {
            "joins": [{"client_id": "a", "status": "online", "metadata": {"k": 1}}],
            "updates": [{"client_id": "b", "status": "away", "metadata": {}}, "junk"],
            "leaves": [{"client_id": "c", "status": "offline", "metadata": {}}, {"x": 1}],
        },
        "event_id": "e1",
        "timestamp": 5.0,
    }
    events = presence_events(diff)
    assert [(e["type"], e["data"]["client_id"]) for e in events] == [
        ("presence_join", "a"),
        ("presence_update", "b"),
        ("presence_leave", "c"),
    ]
    for event in events:
        f.PresenceEventFrame.model_validate(event)
        assert (event["channel"], event["event_id"], event["timestamp"]) == ("room", "e1", 5.0)
    assert presence_events({"type": "presence_join", "data": {}}) == []
    assert presence_events({"type": "presence_diff", "data": "nope"}) == []
    assert presence_events({"type": "presence_diff", "data": {"joins": "nope"}}) == []


async def test_the_timer_is_brought_forward_for_a_batch_due_sooner(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(presence_config(broadcast_interval=10))
    presence = hub.node.presence
    loop = asyncio.get_running_loop()
    for name in ("alice", "bob"):
        await subscribe(hub, join(hub, name), "b")  # bob's join opens b's interval at T
    clock.advance(5)
    for name in ("carol", "dave", "erin"):
        await subscribe(hub, join(hub, name), "a")  # a's interval from T+5: erin's waits
    assert presence._timer_due - loop.time() > 9  # a's batch is due at T+15
    await subscribe(hub, join(hub, "frank"), "b")  # b's batch is due at T+10
    assert presence._timer_due - loop.time() < 6
    assert presence.waiting == 2
