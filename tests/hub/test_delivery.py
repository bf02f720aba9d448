"""Acknowledged delivery in the hub (PROTOCOL.md §3, §8), on a fake clock, no network.

Timers are driven by hand: ``hub.tracker.run_due(now)`` is one pass of the
tracker's timer task at the fake clock's time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import FakeClock

from praison_push.backends import (
    MemoryBroker,
    MemoryDeliveryStore,
    MemoryHistoryStore,
    SQLiteDeliveryStore,
)
from praison_push.config import DeliveryConfig, GatewayConfig, PushConfig
from praison_push.hub import Hub, Principal
from praison_push.hub.delivery_records import dead_letter_channel

from .helpers import MakeHub, drain, join, of_type, publish, request, send, subscribe


def tracking(**fields: Any) -> GatewayConfig:
    return GatewayConfig(push=PushConfig(enabled=True, delivery=DeliveryConfig(**fields)))


async def tick(hub: Hub, clock: FakeClock, seconds: float) -> None:
    """Move the clock on and run one timer pass."""
    assert hub.tracker is not None
    await hub.tracker.run_due(clock.advance(seconds))


def messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return of_type(frames, "channel_message")


async def test_a_delivery_is_pending_until_acknowledged(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    receipt = await publish(hub, bob, "news", 1)
    (message,) = messages(drain(alice))
    assert message["event_id"] == receipt["event_id"]
    assert hub.stats()["delivery"]["pending"] == 1
    ack = await request(hub, alice, "message_ack", event_id=message["event_id"])
    assert (ack["ok"], "unknown" in ack) == (True, False)
    assert hub.stats()["delivery"]["pending"] == 0
    again = await request(hub, alice, "message_ack", event_id=message["event_id"])
    assert (again["ok"], again["unknown"]) == (False, [message["event_id"]])


async def test_another_clients_delivery_cannot_be_acknowledged(hub: Hub) -> None:
    alice, mallory, bob = join(hub, "alice"), join(hub, "mallory"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    await publish(hub, bob, "news", 1)
    (message,) = messages(drain(alice))
    foreign = await request(hub, mallory, "message_ack", event_id=message["event_id"])
    assert foreign["ok"] is False
    assert hub.stats()["delivery"]["pending"] == 1  # alice's delivery is still tracked


async def test_a_batch_acknowledgement_names_the_ids_it_did_not_know(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    for n in range(3):
        await publish(hub, bob, "news", n)
    ids = [m["event_id"] for m in messages(drain(alice))]
    ack = await request(hub, alice, "message_ack", event_ids=[*ids, "nope"], ref=7)
    assert ack == {
        "type": "ack_received",
        "event_id": None,
        "ok": False,
        "event_ids": [*ids, "nope"],
        "unknown": ["nope"],
        "ref": 7,
    }
    assert hub.stats()["delivery"]["pending"] == 0


async def test_an_unacknowledged_delivery_is_retried_with_backoff_then_dead_lettered(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(tracking(ack_timeout=1, retry_backoff=2, max_retries=2))
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    await publish(hub, bob, "news", {"n": 1})
    (original,) = messages(drain(alice))

    await tick(hub, clock, 0.99)
    assert messages(drain(alice)) == []  # not yet: ack_timeout × 2^0 = 1 s
    await tick(hub, clock, 0.02)
    (first,) = messages(drain(alice))
    assert first == {**original, "_redelivered": True, "_retry_count": 1}
    await tick(hub, clock, 1.9)
    assert messages(drain(alice)) == []  # the second wait is 1 × 2^1 = 2 s
    await tick(hub, clock, 0.2)
    (second,) = messages(drain(alice))
    assert (second["_redelivered"], second["_retry_count"]) == (True, 2)
    await tick(hub, clock, 3.9)
    assert messages(drain(alice)) == [] and messages(drain(watcher)) == []
    await tick(hub, clock, 0.2)  # 4 s after the last retry: given up
    assert messages(drain(alice)) == []
    (letter,) = messages(drain(watcher))
    assert letter["channel"] == "$dead-letter"
    assert letter["data"] == {
        "channel": "news",
        "message": original,
        "client_id": "alice",
        "reason": "max_retries",
        "retries": 2,
    }
    late = await request(hub, alice, "message_ack", event_id=original["event_id"])
    assert late["ok"] is False  # no longer tracked
    await tick(hub, clock, 100)
    assert messages(drain(alice)) == [] and messages(drain(watcher)) == []


async def test_an_acknowledged_delivery_is_never_retried(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(tracking(ack_timeout=1))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    await publish(hub, bob, "news", 1)
    await publish(hub, bob, "news", 2)
    first, second = messages(drain(alice))
    await tick(hub, clock, 0.5)
    await request(hub, alice, "message_ack", event_id=first["event_id"])
    await tick(hub, clock, 0.6)
    (retried,) = messages(drain(alice))
    assert retried["event_id"] == second["event_id"]


async def test_no_retries_means_dead_lettered_after_the_first_wait(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(tracking(ack_timeout=1, max_retries=0))
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    await publish(hub, bob, "news", 1)
    drain(alice)
    await tick(hub, clock, 1.01)
    assert messages(drain(alice)) == []
    (letter,) = messages(drain(watcher))
    assert (letter["data"]["reason"], letter["data"]["retries"]) == ("max_retries", 0)


async def test_a_nack_dead_letters_at_once_with_its_reason(hub: Hub) -> None:
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    await publish(hub, bob, "news", 1)
    (message,) = messages(drain(alice))
    nack = await request(
        hub, alice, "message_nack", event_id=message["event_id"], reason="bad input", ref=3
    )
    assert nack == {"type": "nack_received", "event_id": message["event_id"], "ok": True, "ref": 3}
    (letter,) = messages(drain(watcher))
    assert letter["data"]["reason"] == "bad input"
    assert letter["data"]["message"] == message
    again = await request(hub, alice, "message_nack", event_id=message["event_id"])
    assert again["ok"] is False
    assert messages(drain(watcher)) == []


async def test_a_nack_without_a_reason_says_nack(hub: Hub) -> None:
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    await publish(hub, bob, "news", 1)
    (message,) = messages(drain(alice))
    await request(hub, alice, "message_nack", event_id=message["event_id"])
    (letter,) = messages(drain(watcher))
    assert letter["data"]["reason"] == "nack"


async def test_a_nack_reason_is_bounded(hub: Hub) -> None:
    alice = join(hub, "alice")
    error = await request(hub, alice, "message_nack", event_id="e", reason="x" * 501)
    assert (error["type"], error["code"]) == ("error", "invalid_field")
    assert "reason" in error["message"]


async def test_message_ttl_expires_a_delivery_into_the_dead_letters(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(tracking(ack_timeout=10, message_ttl=3))
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    await publish(hub, bob, "news", 1)
    drain(alice)
    await tick(hub, clock, 2.9)
    assert messages(drain(watcher)) == []
    await tick(hub, clock, 1.0)  # expiry is noticed within one timer interval (here 0.75 s)
    (letter,) = messages(drain(watcher))
    assert (letter["data"]["reason"], letter["data"]["retries"]) == ("expired", 0)
    assert hub.stats()["delivery"]["pending"] == 0


async def test_an_absent_clients_delivery_expires_too(make_hub: MakeHub, clock: FakeClock) -> None:
    hub = make_hub(tracking(message_ttl=3))
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    await publish(hub, bob, "news", 1)
    hub.disconnect(alice)  # gone, its delivery stays in the store
    assert hub.tracker is not None
    await hub.tracker.flush()
    await tick(hub, clock, 3.1)
    (letter,) = messages(drain(watcher))
    assert (letter["data"]["client_id"], letter["data"]["reason"]) == ("alice", "expired")


async def test_only_clients_with_their_own_id_are_tracked(hub: Hub) -> None:
    anonymous, bob = join(hub), join(hub, "bob")  # no client_id: the gateway assigns one
    await subscribe(hub, anonymous, "news")
    await publish(hub, bob, "news", 1)
    (message,) = messages(drain(anonymous))
    assert hub.stats()["delivery"]["pending"] == 0
    ack = await request(hub, anonymous, "message_ack", event_id=message["event_id"])
    assert ack["ok"] is False


async def test_the_publisher_and_filtered_out_subscribers_are_not_tracked(hub: Hub) -> None:
    alice, picky = join(hub, "alice"), join(hub, "picky")
    await subscribe(hub, alice, "news")
    await subscribe(hub, picky, "news", filters={"kind": "big"})
    drain(alice)
    await publish(hub, alice, "news", {"kind": "small"})
    assert hub.stats()["delivery"]["pending"] == 0


async def test_run_and_gateway_channels_are_never_tracked(hub: Hub) -> None:
    alice = join(hub, "alice")
    await subscribe(hub, alice, "$dead-letter")
    await subscribe(hub, alice, "executions:r1")
    await hub.publish("$dead-letter", {"x": 1})
    await hub.publish("executions:r1", {"event": "execution_token", "token": "a"})
    assert len(messages(drain(alice))) == 2
    assert hub.stats()["delivery"]["pending"] == 0


async def test_channel_patterns_narrow_tracking(make_hub: MakeHub) -> None:
    hub = make_hub(tracking(channels=["orders.*", "billing"]))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    for name in ("orders.eu", "chat", "billing"):
        await subscribe(hub, alice, name)
    for name in ("orders.eu", "chat", "billing"):
        await publish(hub, bob, name, 1)
    tracked = {m["channel"] for m in messages(drain(alice))}
    assert tracked == {"orders.eu", "chat", "billing"}
    assert hub.stats()["delivery"]["pending"] == 2  # chat is delivered, not tracked


async def test_patterns_match_the_name_an_organisation_uses(make_hub: MakeHub) -> None:
    hub = make_hub(tracking(channels=["notifications"]))
    acme = Principal(user_id="u", org_id="acme")
    alice = join(hub, "alice", principal=acme)
    await subscribe(hub, alice, "notifications")
    await hub.publish("notifications#acme", {"x": 1})
    assert hub.stats()["delivery"]["pending"] == 1


async def test_tracking_off_is_plain_fan_out(make_hub: MakeHub) -> None:
    hub = make_hub(tracking(enabled=False))
    assert hub.tracker is None
    # The broker calls the untracked fan-out itself: nothing is added per publication.
    assert hub.broker._handler == hub.node.deliver_local
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    await publish(hub, bob, "news", 1)
    (message,) = messages(drain(alice))
    assert (await request(hub, alice, "message_ack", event_id=message["event_id"]))["ok"] is False
    nack = await request(hub, alice, "message_nack", event_id=message["event_id"])
    assert nack["ok"] is False


async def test_pending_deliveries_come_back_on_resubscribe_before_the_replay(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(tracking(ack_timeout=1))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    reply = await subscribe(hub, alice, "news")
    for n in range(4):
        await publish(hub, bob, "news", n)
    delivered = messages(drain(alice))
    await request(hub, alice, "message_ack", event_id=delivered[0]["event_id"])
    await tick(hub, clock, 1.5)  # the other three were retried once
    assert len(messages(drain(alice))) == 3
    hub.disconnect(alice)
    await publish(hub, bob, "news", 4)  # missed while away
    again = join(hub, "alice")
    since = {"offset": delivered[1]["offset"], "epoch": reply["epoch"]}
    frames = await send(
        hub, again, {"type": "channel.subscribe", "channel": "news", "since": since}
    )
    assert frames[0]["type"] == "channel.subscribed"
    got = [(m["data"], m.get("_redelivered", False), m.get("_retry_count")) for m in frames[1:]]
    # Pending first, with its retry count (what the replay does not carry); then the
    # replay after `since`, which carries the other pending deliveries in order.
    assert got == [(1, True, 1), (2, False, None), (3, False, None), (4, False, None)]
    assert hub.stats()["delivery"]["pending"] == 4  # 1-3 still pending, 4 replayed: tracked


async def test_a_replay_is_tracked_so_pending_deliveries_never_jump_ahead(hub: Hub) -> None:
    """Regression (the storm): a replay sent over a connection that then dropped was not
    tracked, so the next resubscribe sent later pending deliveries before the replay."""
    alice, bob = join(hub, "alice"), join(hub, "bob")
    reply = await subscribe(hub, alice, "news")
    start = {"offset": reply["offset"], "epoch": reply["epoch"]}
    await publish(hub, bob, "news", 1)  # delivered live, never acknowledged
    hub.disconnect(alice)
    await publish(hub, bob, "news", 2)  # missed while away
    lost = join(hub, "alice")
    await send(hub, lost, {"type": "channel.subscribe", "channel": "news", "since": start})
    await publish(hub, bob, "news", 3)  # live on the new connection
    hub.disconnect(lost)  # ... which dropped before the client read any of it
    again = join(hub, "alice")
    frames = await send(
        hub, again, {"type": "channel.subscribe", "channel": "news", "since": start}
    )
    assert [m["data"] for m in messages(frames)] == [1, 2, 3]
    assert hub.stats()["delivery"]["pending"] == 3


async def test_a_resumed_delivery_waits_a_full_timeout_again(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(tracking(ack_timeout=1, max_retries=1))
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    await publish(hub, bob, "news", 1)
    hub.disconnect(alice)
    await tick(hub, clock, 30)  # away much longer than the retries would take
    again = join(hub, "alice")
    frames = await send(hub, again, {"type": "channel.subscribe", "channel": "news"})
    (resumed,) = messages(frames)
    assert resumed["_retry_count"] == 0  # a reconnect is not a failed attempt
    await tick(hub, clock, 1.1)
    (retried,) = messages(drain(again))
    assert retried["_retry_count"] == 1


async def test_resume_is_per_channel_and_only_for_a_new_subscription(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "a")
    await subscribe(hub, alice, "b")
    await publish(hub, bob, "a", "on a")
    await publish(hub, bob, "b", "on b")
    drain(alice)
    renewed = await send(hub, alice, {"type": "channel.subscribe", "channel": "a"})
    assert messages(renewed) == []  # already subscribed here: nothing to resume
    hub.disconnect(alice)
    again = join(hub, "alice")
    frames = await send(hub, again, {"type": "channel.subscribe", "channel": "b"})
    assert [m["data"] for m in messages(frames)] == ["on b"]


async def test_an_unsubscribe_drops_the_channels_pending_deliveries(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "a")
    await subscribe(hub, alice, "b")
    await publish(hub, bob, "a", 1)
    await publish(hub, bob, "b", 2)
    drain(alice)
    await request(hub, alice, "channel.unsubscribe", channel="a")
    assert hub.stats()["delivery"]["pending"] == 1
    hub.disconnect(alice)
    again = join(hub, "alice")
    frames = await send(hub, again, {"type": "channel.subscribe", "channel": "a"})
    assert messages(frames) == []


async def test_a_client_on_two_connections_is_tracked_once(hub: Hub) -> None:
    first, second, bob = join(hub, "alice"), join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, first, "news")
    await subscribe(hub, second, "news")
    await publish(hub, bob, "news", 1)
    (one,) = messages(drain(first))
    assert len(messages(drain(second))) == 1
    assert hub.stats()["delivery"]["pending"] == 1
    assert (await request(hub, second, "message_ack", event_id=one["event_id"]))["ok"] is True
    hub.disconnect(first)  # the client is still here on its other connection
    assert (await request(hub, second, "message_ack", event_id=one["event_id"]))["ok"] is False


async def test_too_many_pending_deliveries_dead_letter_the_oldest(make_hub: MakeHub) -> None:
    hub = make_hub(tracking(max_pending_per_client=2))
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    for n in range(3):
        await publish(hub, bob, "news", n)
    assert hub.stats()["delivery"]["pending"] == 2
    assert hub.tracker is not None
    await hub.tracker.run_due(0.0)
    (letter,) = messages(drain(watcher))
    assert (letter["data"]["reason"], letter["data"]["message"]["data"]) == ("overflow", 0)


async def test_an_organisations_dead_letters_stay_in_its_scope(hub: Hub) -> None:
    acme = Principal(user_id="u", org_id="acme")
    # Reading dead letters takes the dead_letter permission (or an operator token).
    acme_op = Principal(user_id="op", org_id="acme", permissions=frozenset({"dead_letter"}))
    alice = join(hub, "alice", principal=acme)
    acme_ops, outsider = join(hub, "ops", principal=acme_op), join(hub, "outsider")
    await subscribe(hub, alice, "notifications")
    await subscribe(hub, acme_ops, "$dead-letter")
    await subscribe(hub, outsider, "$dead-letter")
    await hub.publish("notifications#acme", {"secret": 1})
    (message,) = messages(drain(alice))
    await request(hub, alice, "message_nack", event_id=message["event_id"])
    (letter,) = messages(drain(acme_ops))
    assert letter["channel"] == "$dead-letter"  # as the organisation names it
    assert letter["data"]["message"]["data"] == {"secret": 1}
    assert messages(drain(outsider)) == []
    forbidden = await request(hub, outsider, "channel.subscribe", channel="$dead-letter#acme")
    assert forbidden["code"] == "forbidden"
    # A member of the organisation without the permission may not read them at all.
    member = join(hub, "member", principal=Principal(user_id="m", org_id="acme"))
    refused = await request(hub, member, "channel.subscribe", channel="$dead-letter")
    assert refused["code"] == "forbidden"
    assert refused["details"] == {
        "action": "subscribe",
        "channel": "$dead-letter",
        "field": "channel",
    }


def test_dead_letter_channels_follow_the_organisation_scope() -> None:
    assert dead_letter_channel("news") == "$dead-letter"
    assert dead_letter_channel("notifications#acme") == "$dead-letter#acme"
    assert dead_letter_channel("room#1") == "$dead-letter"  # not a scoped channel


async def test_clients_cannot_publish_dead_letters(hub: Hub) -> None:
    mallory = join(hub, "mallory")
    error = await request(hub, mallory, "channel.publish", channel="$dead-letter", data=1)
    assert error["code"] == "forbidden"


async def test_closing_the_hub_writes_what_is_pending(tmp_path: Path, clock: FakeClock) -> None:
    config = GatewayConfig()
    hub = Hub(
        config,
        history=MemoryHistoryStore(config.history, clock=clock),
        broker=MemoryBroker(),
        clock=clock,
        delivery=SQLiteDeliveryStore(tmp_path / "d.db"),
    )
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    for n in range(50):
        await publish(hub, bob, "news", n)
    await hub.close()  # no flush before: closing writes what the journal holds
    store = SQLiteDeliveryStore(tmp_path / "d.db")
    try:
        stored = sorted(d.frame["data"] for d in await store.load("alice"))
    finally:
        await store.close()
    assert stored == list(range(50))


async def test_a_batch_that_wants_no_reply_gets_none_unless_it_has_a_ref(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    await publish(hub, bob, "news", 1)
    await publish(hub, bob, "news", 2)
    first, second = (m["event_id"] for m in messages(drain(alice)))
    quiet = {"type": "message_ack", "event_ids": [first], "reply": False}
    assert await send(hub, alice, quiet) == []
    asked = await request(hub, alice, "message_ack", event_ids=[second], reply=False, ref="r")
    assert (asked["ok"], asked["ref"]) == (True, "r")
    assert hub.stats()["delivery"]["pending"] == 0


async def test_the_memory_store_keeps_only_what_the_node_let_go_of(hub: Hub) -> None:
    assert hub.tracker is not None and hub.tracker.write_through is False
    store = hub.tracker.store
    assert isinstance(store, MemoryDeliveryStore)
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    for n in range(3):
        await publish(hub, bob, "news", n)
    await hub.tracker.flush()
    assert store.pending == 0  # held by the node, not written
    hub.disconnect(alice)
    await hub.tracker.flush()
    assert store.pending == 3  # parked while alice is away
    again = join(hub, "alice")
    frames = await send(hub, again, {"type": "channel.subscribe", "channel": "news"})
    ids = [m["event_id"] for m in messages(frames)]
    assert len(ids) == 3
    await hub.tracker.flush()
    assert store.pending == 0  # claimed back
    await request(hub, again, "message_ack", event_ids=ids)
    hub.disconnect(again)
    await hub.tracker.flush()
    assert store.pending == 0  # acknowledged: nothing to park


async def test_durable_and_shared_stores_get_every_change(tmp_path: Path, clock: FakeClock) -> None:
    config = GatewayConfig()
    store = SQLiteDeliveryStore(tmp_path / "d.db")
    hub = Hub(
        config,
        history=MemoryHistoryStore(config.history, clock=clock),
        broker=MemoryBroker(),
        clock=clock,
        delivery=store,
    )
    try:
        assert hub.tracker is not None and hub.tracker.write_through is True
        alice, bob = join(hub, "alice"), join(hub, "bob")
        await subscribe(hub, alice, "news")
        await publish(hub, bob, "news", 1)
        await hub.tracker.flush()
        # Written while alice is still here: a kill -9 now would not lose it.
        assert [d.frame["data"] for d in await store.load("alice")] == [1]
    finally:
        await hub.close()


async def test_a_long_replay_is_tracked_up_to_the_bound_and_dead_letters_nothing(
    make_hub: MakeHub,
) -> None:
    hub = make_hub(tracking(max_pending_per_client=3))
    alice, bob, watcher = join(hub, "alice"), join(hub, "bob"), join(hub, "watcher")
    reply = await subscribe(hub, alice, "news")
    await subscribe(hub, watcher, "$dead-letter")
    hub.disconnect(alice)
    for n in range(6):
        await publish(hub, bob, "news", n)  # all missed: the replay carries them
    again = join(hub, "alice")
    since = {"offset": reply["offset"], "epoch": reply["epoch"]}
    frames = await send(
        hub, again, {"type": "channel.subscribe", "channel": "news", "since": since}
    )
    assert [m["data"] for m in messages(frames)] == list(range(6))
    assert hub.stats()["delivery"]["pending"] == 3
    assert hub.tracker is not None
    await hub.tracker.run_due(0.0)
    assert messages(drain(watcher)) == []


async def test_reconnecting_again_and_again_keeps_the_retry_heap_bounded(hub: Hub) -> None:
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    for n in range(50):
        await publish(hub, bob, "news", n)
    hub.disconnect(alice)
    assert hub.tracker is not None
    for _ in range(200):  # each resubscribe reschedules all 50 pending deliveries
        again = join(hub, "alice")
        await send(hub, again, {"type": "channel.subscribe", "channel": "news"})
        hub.disconnect(again)
    again = join(hub, "alice")
    await send(hub, again, {"type": "channel.subscribe", "channel": "news"})
    assert hub.stats()["delivery"]["pending"] == 50
    assert len(hub.tracker._retries) <= 4_096 + 2 * 50  # compacted: not 200 × 50


async def test_acks_read_in_one_step_are_answered_as_any_other_frame(hub: Hub) -> None:
    """Issue 12: acknowledgements skip the dict-then-model decode (the frame a tracked
    subscriber sends most); errors, refs and odd JSON are answered as before."""
    alice, bob = join(hub, "alice"), join(hub, "bob")
    await subscribe(hub, alice, "news")
    await publish(hub, bob, "news", 1)
    (message,) = messages(drain(alice))
    (empty,) = await send(hub, alice, '{"type":"message_ack","ref":"r1"}')
    assert (empty["code"], empty["details"]["field"], empty["ref"]) == (
        "invalid_field",
        "event_id",
        "r1",
    )
    (odd,) = await send(hub, alice, '{"type":"message_ack","event_id":"x","junk":NaN,"ref":2}')
    assert (odd["code"], "ref" in odd) == ("bad_frame", False)  # not JSON: no ref read
    assert hub.stats()["delivery"]["pending"] == 1  # neither settled anything
    ack = {"type": "message_ack", "event_ids": [message["event_id"]], "reply": False}
    assert await send(hub, alice, json.dumps(ack, separators=(",", ":"))) == []
    assert hub.stats()["delivery"]["pending"] == 0
