"""Presence: joins, leaves and updates to co-subscribers only; queries; offline by silence."""

from __future__ import annotations

import pytest
from support import FakeClock

from praison_push.config import GatewayConfig, LimitsConfig, PresenceConfig, PushConfig
from praison_push.hub import Hub, Principal
from praison_push.protocol import frames as f

from .helpers import MakeHub, drain, join, of_type, request, send, subscribe


def presence_config(**fields: object) -> GatewayConfig:
    return GatewayConfig(push=PushConfig(enabled=True, presence=PresenceConfig(**fields)))


async def test_join_goes_to_co_subscribers_only(hub: Hub, clock: FakeClock) -> None:
    alice, bob, carol = join(hub, "alice"), join(hub, "bob"), join(hub, "carol")
    await subscribe(hub, alice, "room")
    await subscribe(hub, carol, "elsewhere")
    assert drain(alice) == []  # nobody else was there
    await subscribe(hub, bob, "room")
    (event,) = drain(alice)
    assert event == {
        "type": "presence_join",
        "channel": "room",
        "data": {"client_id": "bob", "status": "online", "metadata": {}},
        "event_id": event["event_id"],
        "timestamp": clock.now,
    }
    f.PresenceEventFrame.model_validate(event)
    assert drain(bob) == []  # not its own join
    assert drain(carol) == []


async def test_leave_on_unsubscribe(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")
    drain(alice)
    await request(hub, bob, "channel.unsubscribe", channel="room")
    (event,) = drain(alice)
    assert (event["type"], event["data"]["client_id"], event["data"]["status"]) == (
        "presence_leave",
        "bob",
        "offline",
    )


async def test_joins_and_leaves_are_per_client_not_per_connection(hub: Hub) -> None:
    alice = join(hub, "alice")
    bob_1, bob_2 = join(hub, "bob"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob_1, "room")
    assert len(of_type(drain(alice), "presence_join")) == 1
    await subscribe(hub, bob_2, "room")
    assert drain(alice) == []
    await request(hub, bob_1, "channel.unsubscribe", channel="room")
    assert drain(alice) == []
    hub.disconnect(bob_2)
    assert [e["type"] for e in drain(alice)] == ["presence_leave"]


async def test_heartbeat_updates_status_and_metadata(hub: Hub) -> None:
    alice, bob, carol = join(hub, "alice"), join(hub, "bob"), join(hub, "carol")
    for connection, channel in ((alice, "a"), (bob, "a"), (bob, "b"), (carol, "b")):
        await subscribe(hub, connection, channel)
    drain(alice), drain(bob), drain(carol)
    ack = await request(
        hub, bob, "presence.heartbeat", status="away", metadata={"mood": "busy"}, ref=3
    )
    assert ack == {"type": "presence.heartbeat_ack", "ok": True, "ref": 3}
    for connection, channel in ((alice, "a"), (carol, "b")):
        (event,) = drain(connection)
        assert event["type"] == "presence_update"
        assert event["channel"] == channel
        assert event["data"] == {"client_id": "bob", "status": "away", "metadata": {"mood": "busy"}}
    # Nothing changed: no update. Metadata alone changing: an update.
    await request(hub, bob, "presence.heartbeat", status="away")
    await request(hub, bob, "presence.heartbeat", status="away", metadata={"mood": "busy"})
    assert drain(alice) == []
    await request(hub, bob, "presence.heartbeat", status="away", metadata={"mood": "calm"})
    assert drain(alice)[0]["data"]["metadata"] == {"mood": "calm"}
    # The default heartbeat means "online".
    await request(hub, bob, "presence.heartbeat")
    assert drain(alice)[0]["data"]["status"] == "online"


async def test_query_per_channel(hub: Hub, clock: FakeClock) -> None:
    alice = join(hub, "alice", principal=Principal("user-a", "org"))
    bob_1, bob_2 = join(hub, "bob"), join(hub, "bob")
    carol = join(hub, "carol")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob_1, "room")
    await subscribe(hub, bob_2, "room")
    await subscribe(hub, bob_2, "other")
    drain(alice)
    await request(hub, alice, "presence.heartbeat", status="busy", metadata={"k": 1})
    drain(bob_1), drain(bob_2)
    reply = await request(hub, carol, "presence.query", channel="room", ref="q")
    f.PresenceListFrame.model_validate(reply)
    assert (reply["type"], reply["channel"], reply["ref"]) == ("presence.list", "room", "q")
    entries = {entry["client_id"]: entry for entry in reply["presence"]}
    assert set(entries) == {"alice", "bob"}  # one entry per client
    assert entries["alice"] == {
        "client_id": "alice",
        "user_id": "user-a",
        "status": "busy",
        "last_seen": clock.now,
        "metadata": {"k": 1},
        "channels": ["room"],
    }
    assert entries["bob"]["user_id"] is None
    empty = await request(hub, carol, "presence.query", channel="nobody-here")
    assert empty["presence"] == []


async def test_query_keeps_the_most_recent_connection_of_a_client(
    hub: Hub, clock: FakeClock
) -> None:
    bob_1, bob_2 = join(hub, "bob"), join(hub, "bob")
    clock.advance(5)
    await subscribe(hub, bob_2, "b2-only")
    (entry,) = [e for e in hub.presence() if e["client_id"] == "bob"]
    assert entry["channels"] == ["b2-only"]
    clock.advance(5)
    await request(hub, bob_1, "ping")
    (entry,) = [e for e in hub.presence() if e["client_id"] == "bob"]
    assert entry["channels"] == []


async def test_global_query_lists_every_client(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    reply = await request(hub, bob, "presence.query")
    assert reply["channel"] is None
    assert sorted(entry["client_id"] for entry in reply["presence"]) == ["alice", "bob"]


async def test_presence_disabled(make_hub: MakeHub) -> None:
    hub = make_hub(presence_config(enabled=False))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")
    assert drain(alice) == []
    error = await request(hub, alice, "presence.query", channel="room")
    assert (error["code"], "PresenceConfig.enabled" in error["message"]) == ("forbidden", True)


async def test_broadcast_changes_off_still_answers_queries(make_hub: MakeHub) -> None:
    hub = make_hub(presence_config(broadcast_changes=False))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")
    await request(hub, bob, "presence.heartbeat", status="away")
    await request(hub, bob, "channel.unsubscribe", channel="room")
    assert drain(alice) == []
    reply = await request(hub, alice, "presence.query")
    assert {e["client_id"]: e["status"] for e in reply["presence"]} == {
        "alice": "online",
        "bob": "away",
    }


async def test_offline_after_silence_and_back_when_the_client_speaks(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(presence_config(heartbeat_interval=1, offline_timeout=2))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "room")
    await subscribe(hub, bob, "room")
    drain(alice)
    clock.advance(1.5)
    hub.sweep(clock.now)
    assert of_type(drain(alice), "presence_update") == []  # 1.5 s < offline_timeout
    clock.advance(1)
    await request(hub, alice, "ping")  # alice stays lively
    hub.sweep(clock.now)
    (update,) = of_type(drain(alice), "presence_update")
    assert update["data"] == {"client_id": "bob", "status": "offline", "metadata": {}}
    assert bob.stale is True
    entries = {e["client_id"]: e["status"] for e in hub.presence("room")}
    assert entries == {"alice": "online", "bob": "offline"}
    hub.sweep(clock.now)  # announced once, not on every sweep
    assert of_type(drain(alice), "presence_update") == []
    # Any frame from bob (here, the answer to the keepalive) brings it back online.
    assert drain(bob) == [{"type": "ping"}, {"type": "ping"}]
    assert await send(hub, bob, {"type": "pong"}) == []
    (back,) = of_type(drain(alice), "presence_update")
    assert back["data"]["status"] == "online"
    assert bob.stale is False


async def test_no_offline_marking_when_presence_is_disabled(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    config = presence_config(enabled=False, heartbeat_interval=1, offline_timeout=2)
    hub = make_hub(config.model_copy(update={"limits": LimitsConfig(idle_timeout=100)}))
    bob = join(hub, "bob")
    clock.advance(5)
    hub.sweep(clock.now)
    assert bob.stale is False


@pytest.mark.parametrize("status", ["online", "away", "busy", "custom-state"])
async def test_any_status_string_is_carried(hub: Hub, status: str) -> None:
    alice = join(hub, "alice")
    await request(hub, alice, "presence.heartbeat", status=status)
    assert hub.presence()[0]["status"] == status


@pytest.mark.parametrize("channel", ["executions-log", "executionsnotes", "executions.eu"])
async def test_a_user_channel_named_like_the_run_feed_has_presence(hub: Hub, channel: str) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, channel)
    await subscribe(hub, bob, channel)
    (event,) = drain(alice)
    assert (event["type"], event["channel"]) == ("presence_join", channel)
    await request(hub, bob, "channel.unsubscribe", channel=channel)
    assert [e["type"] for e in drain(alice)] == ["presence_leave"]


@pytest.mark.parametrize("channel", ["executions", "executions:exec_1"])
async def test_run_feeds_and_run_channels_carry_no_presence(hub: Hub, channel: str) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, channel)
    await subscribe(hub, bob, channel)
    await request(hub, bob, "presence.heartbeat", status="away")
    assert drain(alice) == []
