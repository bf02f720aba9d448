"""The hub, frame in and frames out, with no network (PROTOCOL.md §2, §3, §6)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from support import FakeClock

from praison_push.backends import BackendUnavailableError
from praison_push.config import (
    DeliveryConfig,
    GatewayConfig,
    HistoryConfig,
    LimitsConfig,
    PushConfig,
)
from praison_push.hub import ANONYMOUS, Hub, publishing
from praison_push.protocol import PROTOCOL_VERSION, CloseCode
from praison_push.protocol import frames as f

from .helpers import MakeHub, drain, join, of_type, publish, request, send, subscribe

# --- greeting ------------------------------------------------------------------------------------


async def test_greeting(hub: Hub) -> None:
    connection = hub.connect(client_id="alice", principal=ANONYMOUS, peer="127.0.0.1")
    (greeting,) = drain(connection)
    assert greeting == {
        "type": "connected",
        "client_id": "alice",
        "server_id": hub.server_id,
        "protocol": PROTOCOL_VERSION,
        "heartbeat_interval": 15,
        "resumed": False,
        "max_message_size": 65536,
    }
    f.ConnectedFrame.model_validate(greeting)
    assert hub.connections[connection.connection_id] is connection


@pytest.mark.parametrize("client_id", [None, "", "has space", "x" * 129, "semi;colon"])
async def test_missing_or_invalid_client_ids_are_replaced(hub: Hub, client_id: str | None) -> None:
    first = hub.connect(client_id=client_id, principal=ANONYMOUS, peer="127.0.0.1")
    second = hub.connect(client_id=client_id, principal=ANONYMOUS, peer="127.0.0.1")
    assert first.client_id != second.client_id
    assert first.client_id.startswith(hub.server_id)
    assert drain(first)[0]["client_id"] == first.client_id


async def test_greeting_uses_the_configured_heartbeat(make_hub: MakeHub) -> None:
    config = GatewayConfig(push=PushConfig(enabled=True, presence={"heartbeat_interval": 3}))
    connection = make_hub(config).connect(client_id="a", principal=ANONYMOUS, peer="::1")
    assert drain(connection)[0]["heartbeat_interval"] == 3


async def test_auth_frame_after_authentication_repeats_the_greeting(hub: Hub) -> None:
    connection = join(hub, "a")
    reply = await request(hub, connection, "auth", token="whatever", ref="r")
    assert reply["type"] == "connected"
    assert reply["client_id"] == "a"
    assert reply["ref"] == "r"


async def test_repr(hub: Hub) -> None:
    join(hub, "a")
    assert repr(hub) == f"<Hub {hub.server_id} connections=1 channels=0>"


# --- subscribe, publish, fan-out -----------------------------------------------------------------


async def test_subscribe_reply(hub: Hub) -> None:
    connection = join(hub, "a")
    reply = await subscribe(hub, connection, "news", ref=1)
    assert reply == {
        "type": "channel.subscribed",
        "channel": "news",
        "ok": True,
        "offset": 0,
        "epoch": reply["epoch"],
        "recovered": True,
        "ref": 1,
    }
    f.ChannelSubscribedFrame.model_validate(reply)
    assert "news" in hub.channels
    assert connection.subscriptions == {"news": None}


async def test_publish_fans_out_to_everyone_but_the_publisher(hub: Hub, clock: FakeClock) -> None:
    alice, bob, carol, dave = (join(hub, name) for name in ("alice", "bob", "carol", "dave"))
    for connection in (alice, bob, carol):
        await subscribe(hub, connection, "news")
    drain(alice), drain(bob), drain(carol)  # presence joins
    receipt = await publish(hub, alice, "news", {"headline": "hi"}, ref="p1")
    assert receipt["delivered"] == 2
    assert receipt["offset"] == 1
    assert receipt["ref"] == "p1"
    f.ChannelPublishedFrame.model_validate(receipt)
    for connection in (bob, carol):
        (message,) = drain(connection)
        assert message == {
            "type": "channel_message",
            "channel": "news",
            "data": {"headline": "hi"},
            "event_id": receipt["event_id"],
            "timestamp": clock.now,
            "source": "alice",
            "offset": 1,
            "epoch": message["epoch"],
        }
        f.ChannelMessageFrame.model_validate(message)
    assert drain(alice) == []
    assert drain(dave) == []


async def test_publish_without_subscribers(hub: Hub) -> None:
    alice = join(hub, "alice")
    first = await publish(hub, alice, "empty", 1)
    second = await publish(hub, alice, "empty", 2)
    assert (first["delivered"], first["offset"]) == (0, 1)
    assert (second["delivered"], second["offset"]) == (0, 2)
    assert first["event_id"] != second["event_id"]


async def test_another_connection_of_the_publishing_client_is_excluded(hub: Hub) -> None:
    # Exclusion is by client_id: a client never hears its own publications echoed.
    first, second = join(hub, "alice"), join(hub, "alice")
    await subscribe(hub, second, "c")
    assert (await publish(hub, first, "c", 1))["delivered"] == 0
    assert drain(second) == []


async def test_unsubscribe_stops_delivery(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, bob, "c")
    reply = await request(hub, bob, "channel.unsubscribe", channel="c", ref="u")
    assert reply == {"type": "channel.unsubscribed", "channel": "c", "ok": True, "ref": "u"}
    assert bob.subscriptions == {}
    assert (await publish(hub, alice, "c", 1))["delivered"] == 0
    assert drain(bob) == []


async def test_unsubscribe_from_a_channel_never_joined_is_ok(hub: Hub) -> None:
    bob = join(hub, "bob")
    for channel in ("never-created", "c"):
        reply = await request(hub, bob, "channel.unsubscribe", channel=channel)
        assert (reply["type"], reply["ok"]) == ("channel.unsubscribed", True)
        hub.channels.create("c", 0.0)


async def test_gateway_publish_reaches_everyone(hub: Hub) -> None:
    alice = join(hub, "alice")
    await subscribe(hub, alice, "$dead-letter")
    receipt = await hub.publish("$dead-letter", {"reason": "x"})
    assert receipt["delivered"] == 1
    assert "ref" not in receipt
    (message,) = drain(alice)
    assert message["source"] is None
    assert message["channel"] == "$dead-letter"
    # A channel nobody has joined on this node still gets its history entry.
    unheard = await hub.publish("nobody-listens", 1)
    assert (unheard["delivered"], unheard["offset"]) == (0, 1)


async def test_bad_input_does_not_disturb_other_connections(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, bob, "c")
    assert (await request(hub, alice, "nonsense"))["code"] == "unknown_type"
    assert (await send(hub, alice, "not json"))[0]["code"] == "bad_frame"
    assert (await publish(hub, alice, "c", "still works"))["delivered"] == 1
    assert drain(bob)[0]["data"] == "still works"


# --- filters -------------------------------------------------------------------------------------


async def test_filters_select_publications(hub: Hub) -> None:
    alice, bob, carol = join(hub, "alice"), join(hub, "bob"), join(hub, "carol")
    await subscribe(hub, bob, "jobs", filters={"agent_id": "weather"})
    await subscribe(hub, carol, "jobs")
    drain(bob), drain(carol)
    cases: list[tuple[Any, int]] = [
        ({"agent_id": "weather", "x": 1}, 2),
        ({"agent_id": "stocks"}, 1),
        ({"other": "weather"}, 1),
        ("weather", 1),  # not an object: no filter can match
        (None, 1),
    ]
    for data, delivered in cases:
        assert (await publish(hub, alice, "jobs", data))["delivered"] == delivered
    assert [message["data"] for message in drain(bob)] == [{"agent_id": "weather", "x": 1}]
    assert len(drain(carol)) == len(cases)


async def test_filters_compare_as_strings_and_all_must_match(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, bob, "c", filters={"n": "1", "kind": "a"})
    drain(bob)
    assert (await publish(hub, alice, "c", {"n": 1, "kind": "a"}))["delivered"] == 1
    assert (await publish(hub, alice, "c", {"n": 1, "kind": "b"}))["delivered"] == 0
    assert (await publish(hub, alice, "c", {"n": "1"}))["delivered"] == 0


async def test_resubscribing_replaces_the_filters(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, bob, "c", filters={"k": "a"})
    await subscribe(hub, bob, "c", filters={"k": "b"})
    assert bob.subscriptions == {"c": {"k": "b"}}
    assert (await publish(hub, alice, "c", {"k": "a"}))["delivered"] == 0
    assert (await publish(hub, alice, "c", {"k": "b"}))["delivered"] == 1
    drain(bob)
    await subscribe(hub, bob, "c")
    assert bob.subscriptions == {"c": None}
    assert (await publish(hub, alice, "c", {"k": "a"}))["delivered"] == 1


# --- channels ------------------------------------------------------------------------------------


async def test_channel_create_and_list(hub: Hub) -> None:
    alice = join(hub, "alice")
    reply = await request(hub, alice, "channel.create", channel="b", metadata={"k": 1}, ref=5)
    assert reply == {"type": "channel.created", "channel": "b", "ok": True, "ref": 5}
    await request(hub, alice, "channel.create", channel="b", metadata={"j": 2})
    await request(hub, alice, "channel.create", channel="a")
    channel = hub.channels.get("b")
    assert channel is not None
    assert channel.metadata == {"k": 1, "j": 2}
    listing = await request(hub, alice, "channel.list", ref="l")
    assert listing == {"type": "channel.list", "channels": ["a", "b"], "ref": "l"}


async def test_reserved_channels_cannot_be_created_or_published(hub: Hub) -> None:
    alice = join(hub, "alice")
    for kind in ("channel.create", "channel.publish"):
        error = await request(hub, alice, kind, channel="$dead-letter", ref="x")
        assert error["type"] == "error"
        assert error["code"] == "forbidden"
        assert error["details"] == {"field": "channel"}
        assert error["ref"] == "x"
        assert "$dead-letter" in error["message"]
    assert "$dead-letter" not in hub.channels


async def test_auto_create_off_refuses_unknown_channels(make_hub: MakeHub) -> None:
    hub = make_hub(auto_create_channels=False)
    alice, bob = join(hub, "alice"), join(hub, "bob")
    for kind in ("channel.subscribe", "channel.publish"):
        error = await request(hub, alice, kind, channel="nope")
        assert (error["type"], error["code"]) == ("error", "unknown_channel")
        assert error["details"] == {"field": "channel"}
        assert "auto_create_channels" in error["message"]
    assert len(hub.channels) == 0
    await request(hub, alice, "channel.create", channel="nope")
    await subscribe(hub, bob, "nope")
    assert (await publish(hub, alice, "nope", 1))["delivered"] == 1


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("channel.subscribe", {"channel": "c"}),
        ("channel.unsubscribe", {"channel": "c"}),
        ("channel.publish", {"channel": "c", "data": 1}),
        ("channel.create", {"channel": "c"}),
        ("channel.list", {}),
        ("channel.history", {"channel": "c"}),
        ("presence.heartbeat", {"status": "away"}),
        ("presence.query", {}),
    ],
)
async def test_push_disabled_forbids_channel_and_presence_frames(
    make_hub: MakeHub, kind: str, fields: dict[str, Any]
) -> None:
    hub = make_hub(push=PushConfig(enabled=False))
    alice = join(hub, "alice")
    error = await request(hub, alice, kind, ref="r", **fields)
    assert (error["type"], error["code"], error["ref"]) == ("error", "forbidden", "r")
    assert "PushConfig.enabled" in error["message"]
    assert len(hub.channels) == 0


async def test_push_disabled_still_answers_pings_and_acks(make_hub: MakeHub) -> None:
    hub = make_hub(push=PushConfig(enabled=False))
    alice = join(hub, "alice")
    assert (await request(hub, alice, "ping"))["type"] == "pong"
    assert (await request(hub, alice, "message_ack", event_id="e"))["type"] == "ack_received"


async def test_max_channels(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(max_channels=2))
    alice = join(hub, "alice")
    await subscribe(hub, alice, "a")
    await request(hub, alice, "channel.create", channel="b")
    for kind in ("channel.subscribe", "channel.create"):
        error = await request(hub, alice, kind, channel="c", ref=kind)
        assert (error["code"], error["ref"]) == ("limit_exceeded", kind)
        assert error["details"] == {"limit": "max_channels", "max": 2}
        assert "max_channels=2" in error["message"]
    # Publishing where nobody listens keeps no channel, so the limit does not apply.
    assert (await publish(hub, alice, "c", 1))["delivered"] == 0
    assert "c" not in hub.channels
    # Existing channels keep working.
    assert (await publish(hub, alice, "b", 1))["offset"] == 1
    assert sorted(hub.channels.names()) == ["a", "b"]


async def test_max_subscriptions_per_connection(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(max_subscriptions_per_connection=2))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "a")
    await subscribe(hub, alice, "b")
    error = await request(hub, alice, "channel.subscribe", channel="c")
    assert error["code"] == "limit_exceeded"
    assert error["details"] == {"limit": "max_subscriptions_per_connection", "max": 2}
    assert "c" not in alice.subscriptions
    await subscribe(hub, alice, "a", filters={"k": "v"})  # resubscribing is not a new one
    await subscribe(hub, bob, "c")  # the limit is per connection
    await request(hub, alice, "channel.unsubscribe", channel="b")
    await subscribe(hub, alice, "c")


# --- history and recovery ------------------------------------------------------------------------


async def fill(hub: Hub, channel: str, count: int) -> str:
    publisher = join(hub, "publisher")
    for n in range(1, count + 1):
        await publish(hub, publisher, channel, {"n": n})
    return hub.history.epoch  # type: ignore[attr-defined,no-any-return]


async def test_history(hub: Hub) -> None:
    epoch = await fill(hub, "c", 4)
    alice = join(hub, "alice")
    reply = await request(hub, alice, "channel.history", channel="c", ref="h")
    f.ChannelHistoryReplyFrame.model_validate(reply)
    assert [m["data"]["n"] for m in reply["messages"]] == [1, 2, 3, 4]
    assert (reply["offset"], reply["epoch"], reply["ref"]) == (4, epoch, "h")
    assert reply["recovered"] is True
    newest = await request(hub, alice, "channel.history", channel="c", limit=2)
    assert [m["offset"] for m in newest["messages"]] == [3, 4]
    since = await request(
        hub, alice, "channel.history", channel="c", since={"offset": 1, "epoch": epoch}, limit=2
    )
    assert [m["offset"] for m in since["messages"]] == [2, 3]
    gap = await request(
        hub, alice, "channel.history", channel="c", since={"offset": 1, "epoch": "old"}
    )
    assert (gap["messages"], gap["recovered"]) == ([], False)
    empty = await request(hub, alice, "channel.history", channel="unknown")
    assert (empty["messages"], empty["offset"]) == ([], 0)
    assert alice.subscriptions == {}  # reading history is not subscribing


async def test_subscribe_with_since_replays_what_was_missed(hub: Hub) -> None:
    epoch = await fill(hub, "c", 5)
    alice = join(hub, "alice")
    frames = await send(
        hub,
        alice,
        {"type": "channel.subscribe", "channel": "c", "since": {"offset": 2, "epoch": epoch}},
    )
    assert frames[0]["type"] == "channel.subscribed"
    assert (frames[0]["offset"], frames[0]["recovered"]) == (5, True)
    assert [(m["type"], m["offset"]) for m in frames[1:]] == [
        ("channel_message", n) for n in (3, 4, 5)
    ]
    # The live stream continues right after the replay.
    bob = join(hub, "bob")
    await publish(hub, bob, "c", "live")
    assert [m["offset"] for m in of_type(drain(alice), "channel_message")] == [6]


async def test_subscribe_without_since_replays_nothing(hub: Hub) -> None:
    await fill(hub, "c", 3)
    alice = join(hub, "alice")
    frames = await send(hub, alice, {"type": "channel.subscribe", "channel": "c"})
    assert [frame["type"] for frame in frames] == ["channel.subscribed"]
    assert frames[0]["offset"] == 3


@pytest.mark.parametrize(
    ("since", "replayed"),
    [
        # An epoch the channel no longer has: the new epoch is all news, read from its
        # start (before, the client jumped to its tail and lost 1-3 silently).
        ({"offset": 2, "epoch": "old-epoch"}, [1, 2, 3]),
        ({"offset": 99, "epoch": None}, []),
    ],
)
async def test_subscribe_with_a_lost_position_is_not_recovered(
    hub: Hub, since: dict[str, Any], replayed: list[int]
) -> None:
    epoch = await fill(hub, "c", 3)
    if since["epoch"] is None:
        since = {**since, "epoch": epoch}
    alice = join(hub, "alice")
    frames = await send(hub, alice, {"type": "channel.subscribe", "channel": "c", "since": since})
    assert [m["offset"] for m in frames[1:]] == replayed
    assert (frames[0]["recovered"], frames[0]["offset"], frames[0]["epoch"]) == (False, 3, epoch)
    assert alice.subscriptions == {"c": None}  # subscribed anyway; the client knows of the gap


async def test_subscribe_with_expired_history_is_not_recovered(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(history=HistoryConfig(ttl=10))
    epoch = await fill(hub, "c", 2)
    clock.advance(11)
    alice = join(hub, "alice")
    reply = await subscribe(hub, alice, "c", since={"offset": 1, "epoch": epoch})
    assert reply["recovered"] is False


# --- publish de-duplication ----------------------------------------------------------------------


async def test_publish_with_a_seen_id_is_not_published_again(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, bob, "c")
    drain(bob)
    first = await publish(hub, alice, "c", "once", id="key-1")
    again = await publish(hub, alice, "c", "once", id="key-1", ref="again")
    assert first["delivered"] == 1
    assert "duplicate" not in first
    assert again == {**first, "delivered": 0, "duplicate": True, "ref": "again"}
    assert len(drain(bob)) == 1
    # Keys are per channel, and publications without a key are never de-duplicated.
    assert "duplicate" not in await publish(hub, alice, "other", "x", id="key-1")
    assert (await publish(hub, alice, "c", "a"))["offset"] == 2
    assert (await publish(hub, alice, "c", "a"))["offset"] == 3


async def test_dedup_window_expires(make_hub: MakeHub, clock: FakeClock) -> None:
    hub = make_hub(history=HistoryConfig(dedup_window=5))
    alice = join(hub, "alice")
    first = await publish(hub, alice, "c", 1, id="k")
    clock.advance(4)
    assert (await publish(hub, alice, "c", 1, id="k"))["duplicate"] is True
    clock.advance(2)
    later = await publish(hub, alice, "c", 1, id="k")
    assert "duplicate" not in later
    assert later["offset"] == first["offset"] + 1


# --- acks, pings ---------------------------------------------------------------------------------


async def test_ack_nack_ping_pong(hub: Hub) -> None:
    alice = join(hub, "alice")
    # Nothing was delivered to alice: acknowledging an unknown event is refused, harmlessly.
    ack = await request(hub, alice, "message_ack", event_id="e1", ref=1)
    assert ack == {
        "type": "ack_received",
        "event_id": "e1",
        "ok": False,
        "ref": 1,
        "unknown": ["e1"],
    }
    many = await request(hub, alice, "message_ack", event_ids=["e1", "e2"])
    assert many == {
        "type": "ack_received",
        "event_id": None,
        "ok": False,
        "event_ids": ["e1", "e2"],
        "unknown": ["e1", "e2"],
    }
    nack = await request(hub, alice, "message_nack", event_id="e3")
    assert nack == {"type": "nack_received", "event_id": "e3", "ok": False}
    assert await request(hub, alice, "ping") == {"type": "pong"}
    assert await request(hub, alice, "ping", id="p", ref="r") == {
        "type": "pong",
        "id": "p",
        "ref": "r",
    }
    assert await send(hub, alice, {"type": "pong"}) == []
    for model, frame in ((f.AckReceivedFrame, ack), (f.NackReceivedFrame, nack)):
        model.model_validate(frame)


@pytest.mark.parametrize("fields", [{}, {"event_ids": []}])
async def test_ack_without_an_id_is_invalid(hub: Hub, fields: dict[str, Any]) -> None:
    alice = join(hub, "alice")
    error = await request(hub, alice, "message_ack", ref="a", **fields)
    assert (error["code"], error["details"], error["ref"]) == (
        "invalid_field",
        {"field": "event_id"},
        "a",
    )


# --- errors and ref ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ('{"type":"channel.explode","ref":"r1"}', "unknown_type", None),
        ('{"type":"channel.subscribe","ref":"r1"}', "invalid_field", "channel"),
        ('{"type":"channel.publish","channel":"a b","ref":"r1"}', "invalid_field", "channel"),
        ('{"type":"channel.publish","channel":"c","id":5,"ref":"r1"}', "invalid_field", "id"),
        ('{"type":7,"ref":"r1"}', "invalid_field", "type"),
    ],
)
async def test_errors_echo_the_ref(hub: Hub, text: str, code: str, field: str | None) -> None:
    alice = join(hub, "alice")
    (error,) = await send(hub, alice, text)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["ref"] == "r1"
    assert error.get("details", {}).get("field") == field
    f.ErrorFrame.model_validate(error)


@pytest.mark.parametrize("ref", [True, 1.5, None, ["r"], {"r": 1}])
async def test_unusable_refs_are_not_echoed(hub: Hub, ref: Any) -> None:
    alice = join(hub, "alice")
    (error,) = await send(hub, alice, {"type": "nonsense", "ref": ref})
    assert error["code"] == "unknown_type"
    assert "ref" not in error


async def test_an_integer_ref_is_echoed_on_errors(hub: Hub) -> None:
    alice = join(hub, "alice")
    (error,) = await send(hub, alice, {"type": "nonsense", "ref": 42})
    assert error["ref"] == 42


@pytest.mark.parametrize("text", ["not json", "[1,2]", '"s"', "", b"\xff\xfe"])
async def test_bad_frames_get_bad_frame(hub: Hub, text: str | bytes) -> None:
    alice = join(hub, "alice")
    await hub.receive(alice, text)
    (error,) = drain(alice)
    assert (error["type"], error["code"]) == ("error", "bad_frame")
    assert "ref" not in error


async def test_bytes_frames_are_accepted(hub: Hub) -> None:
    alice = join(hub, "alice")
    await hub.receive(alice, b'{"type":"ping","ref":"b"}')
    assert drain(alice) == [{"type": "pong", "ref": "b"}]


async def test_too_large_names_the_limit(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(max_message_size=256))
    alice = join(hub, "alice")
    (error,) = await send(
        hub, alice, {"type": "channel.publish", "channel": "c", "data": "x" * 300}
    )
    assert error["code"] == "too_large"
    assert error["details"]["limit"] == "max_message_size"
    assert error["details"]["max"] == 256
    assert "max_message_size" in error["message"]
    assert (await request(hub, alice, "ping"))["type"] == "pong"


async def test_poison_payloads_are_refused_not_stored(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, bob, "c")
    deep = "[" * 150 + "]" * 150
    for literal in ("NaN", "Infinity", "1e999", '"\\ud800"', deep, "[" * 5000):
        text = '{"type":"channel.publish","channel":"c","data":' + literal + "}"
        (error,) = await send(hub, alice, text)
        assert error["code"] == "bad_frame"
    # Nothing was stored, so history (and every later replay) still works.
    reply = await request(hub, bob, "channel.history", channel="c")
    assert (reply["type"], reply["messages"]) == ("channel.history", [])


class _BrokenHistory:
    """A history store whose writes fail, to exercise the internal-error path."""

    epoch = "broken"

    async def append(self, channel: str, frame: dict[str, Any]) -> tuple[int, str]:
        raise RuntimeError("disk on fire")

    async def read(self, channel: str, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    async def close(self) -> None:
        return None


async def test_internal_errors_answer_internal_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from praison_push.backends import MemoryBroker

    hub = Hub(GatewayConfig(), history=_BrokenHistory(), broker=MemoryBroker())
    try:
        alice = join(hub, "alice")
        with caplog.at_level(logging.ERROR, logger="praison_push.hub"):
            (error,) = await send(
                hub, alice, {"type": "channel.publish", "channel": "c", "data": 1, "ref": "p"}
            )
            (error2,) = await send(hub, alice, {"type": "channel.subscribe", "channel": "c"})
        assert error == {
            "type": "error",
            "code": "internal",
            "message": "internal error",
            "ref": "p",
        }
        assert error2["code"] == "internal"
        assert "disk on fire" not in json.dumps(error)  # internals stay in the log
        assert [r.exc_info is not None for r in caplog.records] == [True, True]
        assert (await request(hub, alice, "ping"))["type"] == "pong"
    finally:
        await hub.close()


# --- disconnect ----------------------------------------------------------------------------------


async def test_disconnect_cleans_up(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(max_connections=2))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "a")
    await subscribe(hub, alice, "b")
    await subscribe(hub, bob, "a")
    drain(alice), drain(bob)
    hub.disconnect(alice)
    assert alice.connection_id not in hub.connections
    assert alice.close_code == CloseCode.NORMAL
    channel_a = hub.channels.get("a")
    assert channel_a is not None
    assert list(channel_a.subscribers) == [bob]
    assert dict(channel_a.members) == {"bob": 1}
    assert hub.channels.get("b") is None  # auto-created and now unused: forgotten
    assert alice.subscriptions == {}
    (leave,) = drain(bob)
    assert (leave["type"], leave["channel"], leave["data"]["client_id"]) == (
        "presence_leave",
        "a",
        "alice",
    )
    assert (await publish(hub, bob, "a", 1))["delivered"] == 0
    # The connection slot was released (max_connections=2), and a second disconnect is a no-op.
    join(hub, "carol")
    hub.disconnect(alice)
    assert len(hub.connections) == 2


async def test_disconnect_keeps_an_earlier_close_code(hub: Hub) -> None:
    alice = join(hub, "alice")
    alice.close(CloseCode.IDLE_TIMEOUT, "idle")
    hub.disconnect(alice)
    assert (alice.close_code, alice.close_reason) == (CloseCode.IDLE_TIMEOUT, "idle")


async def test_close_closes_every_connection_going_away(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await hub.close()
    assert alice.close_code == bob.close_code == CloseCode.GOING_AWAY
    await hub.close()  # idempotent


async def test_publish_with_echo_reaches_the_subscribed_publisher(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "echoes")
    await subscribe(hub, bob, "echoes")
    drain(alice)
    frames = await send(
        hub, alice, {"type": "channel.publish", "channel": "echoes", "data": 1, "echo": True}
    )
    assert [fr["type"] for fr in frames] == ["channel_message", "channel.published"]
    assert frames[0]["data"] == 1 and frames[1]["delivered"] == 2
    assert [fr["data"] for fr in drain(bob) if fr["type"] == "channel_message"] == [1]
    plain = await request(hub, alice, "channel.publish", channel="echoes", data=2)
    assert plain["delivered"] == 1  # without echo the publisher is left out
    # Echo only reaches a publisher that listens to the channel.
    loner = join(hub, "loner")
    lonely = await request(hub, loner, "channel.publish", channel="echoes", data=3, echo=True)
    assert lonely["type"] == "channel.published" and lonely["delivered"] == 2


async def test_max_runs_per_connection(make_hub: MakeHub) -> None:
    import asyncio

    hub = make_hub(limits=LimitsConfig(max_runs_per_connection=2))

    async def forever(text: str) -> Any:
        yield "started "
        await asyncio.Event().wait()  # until cancelled

    hub.agents.register("forever", forever)
    alice, bob = join(hub, "alice"), join(hub, "bob")
    first = await request(hub, alice, "execute", agent_id="forever", input="1")
    await request(hub, alice, "execute", agent_id="forever", input="2")
    refused = await request(hub, alice, "execute", agent_id="forever", input="3", ref="third")
    assert (refused["code"], refused["ref"]) == ("limit_exceeded", "third")
    assert refused["details"] == {"limit": "max_runs_per_connection", "max": 2}
    # Another client is not affected, and a finished run frees a slot.
    assert (await request(hub, bob, "execute", agent_id="forever", input="x"))["type"] == (
        "execute.accepted"
    )
    cancelled = await request(hub, alice, "execution.cancel", execution_id=first["execution_id"])
    assert cancelled["ok"] is True
    run = hub.runs.get(first["execution_id"])
    assert run is not None
    assert run.task is not None
    await asyncio.wait_for(asyncio.shield(run.task), 5)
    drain(alice)
    again = await request(hub, alice, "execute", agent_id="forever", input="4")
    assert again["type"] == "execute.accepted"
    await hub.runs.close()


def test_demo_long_is_capped() -> None:
    from praison_push.agents import demo

    assert demo.MAX_DEMO_TOKENS == 100_000


# --- the node's face to the server ---------------------------------------------------------------


async def test_stats(hub: Hub) -> None:
    delivery = {"store": "memory", "pending": 0}
    assert hub.stats() == {
        "connections": 0,
        "channels": 0,
        "runs": 0,
        "backend": "memory",
        "delivery": delivery,
    }
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "a")
    await request(hub, alice, "channel.create", channel="b")
    await publish(hub, bob, "a", 1)
    assert hub.stats() == {
        "connections": 2,
        "channels": 2,
        "runs": 0,
        "backend": "memory",
        "delivery": {"store": "memory", "pending": 1},
    }


async def test_stats_without_tracking_name_no_delivery(make_hub: MakeHub) -> None:
    hub = make_hub(push=PushConfig(enabled=True, delivery=DeliveryConfig(enabled=False)))
    assert "delivery" not in hub.stats()


async def test_resync_closes_subscribed_connections_going_away(hub: Hub) -> None:
    listener, idle = join(hub, "listener"), join(hub, "idle")
    await subscribe(hub, listener, "news")
    assert hub.resync() == 1
    assert listener.close_code == CloseCode.GOING_AWAY  # reconnect, recover from history
    assert listener.close_reason == "missed publications while Redis was away"
    assert not idle.closing  # nothing was missed by a connection that listens to nothing
    assert hub.resync() == 0  # closing already


async def test_a_hub_runs_only_the_agents_it_is_given(make_hub: MakeHub) -> None:
    hub = make_hub()
    alice = join(hub, "alice")
    refused = await request(hub, alice, "execute", agent_id="echo", input="hi")
    assert (refused["code"], refused["details"]) == ("unknown_agent", {"field": "agent_id"})
    assert "(known: none)" in refused["message"]


async def test_a_publish_of_a_key_in_progress_elsewhere_gets_that_publish_receipt(
    hub: Hub,
) -> None:
    """Another gateway sharing the window claimed the key and is publishing: wait for it."""
    alice = join(hub, "alice")
    window = hub.node.dedup
    assert await window.claim("c", "alice\x00k", now=hub.clock(), claim_ttl=30) is None
    task = asyncio.get_running_loop().create_task(publish(hub, alice, "c", 1, id="k"))
    for _ in range(5):
        await asyncio.sleep(0)  # the publish is claiming, and waits
    assert not task.done()
    theirs = {"type": "channel.published", "channel": "c", "delivered": 3, "event_id": "e9",
              "offset": 9}  # fmt: skip
    await window.remember("c", "alice\x00k", theirs, now=hub.clock(), window=120)
    assert await task == {**theirs, "delivered": 0, "duplicate": True}
    assert (await hub.history.read("c")).messages == []  # published once, by the other


async def test_a_key_still_in_progress_after_the_wait_is_refused_with_a_retry(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publishing, "CLAIM_WAIT", 0.05)
    alice = join(hub, "alice")
    assert await hub.node.dedup.claim("c", "alice\x00k", now=hub.clock(), claim_ttl=30) is None
    reply = await request(hub, alice, "channel.publish", channel="c", data=1, id="k", ref=4)
    assert (reply["type"], reply["code"], reply["ref"]) == ("error", "rate_limited", 4)
    assert "still in progress" in reply["message"]
    assert reply["details"]["retry_after"] == 1.0  # the package's client waits, re-sends
    assert "duplicate" not in await publish(hub, alice, "c", 1, id="other")  # still works


async def test_a_failed_publish_gives_its_key_back(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = join(hub, "alice")
    real = hub.node.publish

    async def unavailable(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise BackendUnavailableError("redis is away")

    monkeypatch.setattr(hub.node, "publish", unavailable)
    reply = await request(hub, alice, "channel.publish", channel="c", data=1, id="k")
    assert reply["type"] == "error" and "retry later" in reply["message"]
    monkeypatch.setattr(hub.node, "publish", real)
    again = await publish(hub, alice, "c", 1, id="k")  # the retry publishes
    assert "duplicate" not in again and again["offset"] == 1
