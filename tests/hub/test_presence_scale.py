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

from .helpers import MakeHub, drain, join, request, send, subscribe


def presence_config(**fields: Any) -> GatewayConfig:
    return GatewayConfig(push=PushConfig(enabled=True, presence=PresenceConfig(**fields)))


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["type"] for frame in frames]


def listed(diff: dict[str, Any], key: str) -> list[str]:
    return sorted(entry["client_id"] for entry in diff["data"][key])


async def full_room(make_hub: MakeHub, clock: FakeClock, *names: str, cap: int) -> Hub:
    """A hub whose channel ``room`` holds ``names``, with a fresh broadcast interval.

    ``max_broadcast_members=cap`` is also the frames a channel may send at once per
    interval, so a room near the bound spends its budget on one change.
    """
    hub = make_hub(presence_config(max_broadcast_members=cap))
    for name in names:
        await subscribe(hub, join(hub, name), "room")
    clock.advance(1)
    hub.sweep(clock.now)  # the joins' batch, if any, opens an interval...
    clock.advance(1)  # ...that is over now
    for connection in hub.connections.values():
        connection.drain()
    return hub


async def act(hub: Hub, connection: Connection, kind: str, **fields: Any) -> None:
    """Send a request; whatever else ``connection`` had queued is dropped with its reply."""
    frames = await send(hub, connection, {"type": kind, **fields})
    assert any(f.get("type") != "error" for f in frames), frames


def member(hub: Hub, client_id: str) -> Connection:
    (connection,) = [c for c in hub.connections.values() if c.client_id == client_id]
    return connection


async def test_a_small_channel_sees_every_change_at_once(hub: Hub) -> None:
    alice = join(hub, "alice")
    await subscribe(hub, alice, "room")
    others = [join(hub, name) for name in ("bob", "carol", "dave")]
    for connection in others:
        await subscribe(hub, connection, "room")
        await act(hub, connection, "presence.heartbeat", status="busy")
    # Far within the budget (1,000 frames per interval): as PraisonAI sends them.
    assert kinds(drain(alice)) == ["presence_join", "presence_update"] * 3
    assert hub.node.presence.waiting == 0


async def test_changes_past_the_budget_go_out_as_one_diff(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = await full_room(make_hub, clock, "alice", "bob", "carol", "dave", cap=4)
    alice, bob, carol, dave = (member(hub, n) for n in ("alice", "bob", "carol", "dave"))
    await act(hub, bob, "presence.heartbeat", status="away")  # 3 frames: within 4
    (first,) = drain(alice)
    assert (first["type"], first["data"]["client_id"]) == ("presence_update", "bob")
    await act(hub, carol, "presence.heartbeat", status="busy")  # 3 more: past 4
    await act(hub, dave, "presence.heartbeat", status="gone fishing")
    assert drain(alice) == []
    assert hub.node.presence.waiting == 1
    hub.sweep(clock.now)
    assert drain(alice) == []  # the interval has not ended
    clock.advance(1)
    hub.sweep(clock.now)
    frames = {c.client_id: drain(c) for c in (alice, bob, carol, dave)}
    (diff,) = frames["alice"]
    f.PresenceDiffFrame.model_validate(diff)
    assert diff == {
        "type": "presence_diff",
        "channel": "room",
        "data": {
            "joins": [],
            "updates": [
                {"client_id": "carol", "status": "busy", "metadata": {}},
                {"client_id": "dave", "status": "gone fishing", "metadata": {}},
            ],
            "leaves": [],
        },
        "event_id": diff["event_id"],
        "timestamp": clock.now,
    }
    # One frame for every subscriber, the clients it lists included.
    assert frames == {name: [diff] for name in frames}
    assert hub.node.presence.waiting == 0
    # The batch's frames open the next interval: its changes wait for the next batch.
    await act(hub, bob, "presence.heartbeat", status="back")
    assert drain(alice) == []
    assert hub.node.presence.waiting == 1


async def test_a_batch_of_one_change_is_the_single_event_frame(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = await full_room(make_hub, clock, "alice", "bob", "carol", "dave", cap=4)
    alice, bob, carol = (member(hub, n) for n in ("alice", "bob", "carol"))
    await act(hub, carol, "presence.heartbeat", status="busy")  # spends the budget
    drain(alice), drain(bob)
    await act(hub, bob, "presence.heartbeat", status="away")
    assert drain(alice) == []  # past the budget: waits
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
    make_hub: MakeHub, clock: FakeClock, steps: list[str], net: str
) -> None:
    there = steps[0] != "join"  # bob is in the room when the interval starts
    names = ("alice", "carol", "dave", "erin", *(("bob",) if there else ()))
    hub = await full_room(make_hub, clock, *names, cap=5)
    alice, dave, erin = (member(hub, n) for n in ("alice", "dave", "erin"))
    bob = member(hub, "bob") if there else join(hub, "bob")
    await act(hub, erin, "presence.heartbeat", status="busy")  # spends the budget
    assert kinds(drain(alice)) == ["presence_update"]
    for index, step in enumerate(steps):
        if step == "join":
            await act(hub, bob, "channel.subscribe", channel="room")
        elif step == "leave":
            await act(hub, bob, "channel.unsubscribe", channel="room")
        else:
            await act(hub, bob, "presence.heartbeat", status=f"s{index}")
        clock.advance(0.1)
    await act(hub, dave, "presence.heartbeat", status="away")  # a second change: a diff
    assert drain(alice) == []
    clock.advance(1)
    hub.sweep(clock.now)
    (diff,) = drain(alice)
    assert diff["type"] == "presence_diff"
    assert listed(diff, net) == (["bob", "dave"] if net == "updates" else ["bob"])
    entries = [e for key in ("joins", "updates", "leaves") for e in diff["data"][key]]
    (entry,) = [e for e in entries if e["client_id"] == "bob"]
    assert entry["status"] == ("offline" if net == "leaves" else bob.status)
    assert len(entries) == 2


async def test_nothing_is_broadcast_above_max_broadcast_members(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = await full_room(make_hub, clock, "alice", "bob", "carol", cap=3)
    alice, bob, carol = (member(hub, n) for n in ("alice", "bob", "carol"))
    await act(hub, bob, "presence.heartbeat", status="busy")  # 2 frames
    await act(hub, carol, "presence.heartbeat", status="busy")  # 2 more: waits
    assert kinds(drain(alice)) == ["presence_update"]
    dave = join(hub, "dave")
    await subscribe(hub, dave, "room")  # 4 members: past the bound
    clock.advance(1)
    hub.sweep(clock.now)
    # The batch holding carol's update is dropped too: the channel is past the bound.
    assert drain(alice) == []
    assert hub.node.presence.waiting == 0
    await act(hub, dave, "presence.heartbeat", status="away")
    assert drain(alice) == []
    # Queries still answer, with everyone.
    reply = await request(hub, alice, "presence.query", channel="room")
    assert sorted(e["client_id"] for e in reply["presence"]) == ["alice", "bob", "carol", "dave"]
    # Back at the bound, changes are broadcast again (dave's leave brings it there).
    await act(hub, dave, "channel.unsubscribe", channel="room")
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


async def test_the_timer_sends_a_batch_without_the_upkeep() -> None:
    config = presence_config(broadcast_interval=0.05, max_broadcast_members=5)
    hub = Hub(config, history=MemoryHistoryStore(config.history), broker=MemoryBroker())
    try:
        alice = join(hub, "alice")
        await subscribe(hub, alice, "room")
        # Joins cost 1 and 2 frames (at once), then 3 and 4 (past the budget of 5).
        for name in ("bob", "carol", "dave", "erin"):
            await subscribe(hub, join(hub, name), "room")
        started = time.monotonic()
        got: list[dict[str, Any]] = drain(alice)
        await wait_until(lambda: bool(got.extend(drain(alice)) or len(got) == 3), 3)
        assert kinds(got) == ["presence_join", "presence_join", "presence_diff"]
        assert listed(got[2], "joins") == ["dave", "erin"]
        assert time.monotonic() - started < 2
        assert hub.node.presence.waiting == 0
    finally:
        await hub.close()


async def test_a_batch_of_a_channel_that_went_away_is_dropped(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = await full_room(make_hub, clock, "alice", "bob", "carol", cap=3)
    alice, bob, carol = (member(hub, n) for n in ("alice", "bob", "carol"))
    await act(hub, bob, "presence.heartbeat", status="busy")
    await act(hub, carol, "presence.heartbeat", status="busy")  # waits
    for connection in (alice, bob, carol):
        await act(hub, connection, "channel.unsubscribe", channel="room")
    assert "room" not in hub.channels
    clock.advance(1)
    hub.sweep(clock.now)
    assert hub.node.presence.waiting == 0
    assert [drain(c) for c in (alice, bob, carol)] == [[], [], []]


async def test_closing_the_hub_stops_the_presence_timer(make_hub: MakeHub) -> None:
    hub = make_hub(presence_config(broadcast_interval=30, max_broadcast_members=5))
    for name in ("alice", "bob", "carol", "dave"):
        await subscribe(hub, join(hub, name), "room")  # dave's join waits
    assert hub.node.presence.waiting == 1
    await hub.close()
    assert hub.node.presence.waiting == 0


async def test_the_timer_is_brought_forward_for_a_batch_due_sooner(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(presence_config(broadcast_interval=10, max_broadcast_members=5))
    presence = hub.node.presence
    loop = asyncio.get_running_loop()
    for name in ("b1", "b2", "b3"):
        await subscribe(hub, join(hub, name), "b")  # b's interval begins at T
    clock.advance(5)
    for name in ("a1", "a2", "a3", "a4"):
        await subscribe(hub, join(hub, name), "a")  # a's from T+5: a4's join waits
    assert presence._timer_due - loop.time() > 9  # a's batch is due at T+15
    await subscribe(hub, join(hub, "b4"), "b")  # b's batch is due at T+10
    assert presence._timer_due - loop.time() < 6
    assert presence.waiting == 2


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
