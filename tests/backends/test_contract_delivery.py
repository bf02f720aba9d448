"""DeliveryStore contract (backends/base.py, PROTOCOL.md §3), run against every store."""

from __future__ import annotations

import asyncio
from typing import Any

from praison_push.backends import (
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryRescheduled,
    DeliveryStore,
    PendingDelivery,
)

from .delivery_kits import DeliveryKit

T0 = 1_700_000_000.25


def frame(n: int, channel: str = "c") -> dict[str, Any]:
    """A ``channel_message`` as delivered (with its position)."""
    return {
        "type": "channel_message",
        "channel": channel,
        "data": {"n": n, "text": "café ☕", "nested": [1, {"x": None}]},
        "event_id": f"ev-{n}",
        "timestamp": T0 + n,
        "source": "pub",
        "offset": n,
        "epoch": "e1",
    }


def recorded(n: int, *clients: str, expires: float | None = None) -> DeliveriesRecorded:
    return DeliveriesRecorded(
        event_id=f"ev-{n}",
        channel="c",
        frame=frame(n),
        recorded_at=T0 + n,
        expires=T0 + n + 100 if expires is None else expires,
        due=T0 + n + 30,
        client_ids=clients,
    )


def by_event(deliveries: list[PendingDelivery]) -> dict[str, PendingDelivery]:
    return {d.event_id: d for d in deliveries}


async def ids(store: DeliveryStore, client_id: str) -> set[str]:
    return {d.event_id for d in await store.load(client_id)}


async def test_recorded_deliveries_read_back_whole(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice", "bob"), recorded(2, "alice")])
    alice = by_event(await store.load("alice"))
    assert set(alice) == {"ev-1", "ev-2"}
    assert alice["ev-1"] == PendingDelivery(
        client_id="alice",
        event_id="ev-1",
        channel="c",
        frame=frame(1),
        recorded_at=T0 + 1,
        expires=T0 + 101,
        retries=0,
        due=T0 + 31,
    )
    assert await ids(store, "bob") == {"ev-1"}
    assert await store.load("nobody") == []


async def test_settling_removes_only_that_clients_delivery(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice", "bob"), recorded(2, "alice")])
    await store.write([DeliveriesSettled("alice", ["ev-1", "ev-404"])])
    assert await ids(store, "alice") == {"ev-2"}
    assert await ids(store, "bob") == {"ev-1"}
    await store.write([DeliveriesSettled("alice", ["ev-1"])])  # again: nothing happens
    await store.write([DeliveriesSettled("carol", ["ev-2"])])  # not hers
    assert await ids(store, "alice") == {"ev-2"}


async def test_rescheduling_updates_a_pending_delivery_and_never_revives_one(
    delivery_kit: DeliveryKit,
) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice")])
    await store.write([DeliveryRescheduled("alice", "ev-1", 2, T0 + 500.5)])
    (delivery,) = await store.load("alice")
    assert (delivery.retries, delivery.due) == (2, T0 + 500.5)
    await store.write([DeliveriesSettled("alice", ["ev-1"])])
    await store.write([DeliveryRescheduled("alice", "ev-1", 3, T0 + 900)])
    await store.write([DeliveryRescheduled("bob", "ev-1", 1, T0 + 900)])
    assert await store.load("alice") == [] and await store.load("bob") == []


async def test_recording_again_keeps_the_count_and_due_time(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice"), DeliveryRescheduled("alice", "ev-1", 1, T0 + 77)])
    await store.write([recorded(1, "alice", "bob")])
    alice, bob = await store.load("alice"), await store.load("bob")
    assert (alice[0].retries, alice[0].due) == (1, T0 + 77)
    assert (bob[0].retries, bob[0].due) == (0, T0 + 31)


async def test_changes_apply_in_order_within_a_write(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice"), DeliveriesSettled("alice", ["ev-1"])])
    assert await store.load("alice") == []
    await store.write([DeliveriesSettled("alice", ["ev-2"]), recorded(2, "alice")])
    assert await ids(store, "alice") == {"ev-2"}
    await store.write([])  # nothing to do is fine


async def test_a_publication_is_kept_while_pending_and_no_longer(
    delivery_kit: DeliveryKit,
) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice", "bob")])
    await store.write([DeliveriesSettled("alice", ["ev-1"])])
    assert (await store.load("bob"))[0].frame == frame(1)  # bob still holds it
    await store.write([DeliveriesSettled("bob", ["ev-1"])])
    # Gone with its last delivery: the same event id recorded anew is a new publication.
    newer = DeliveriesRecorded("ev-1", "d", frame(9, "d"), T0, T0 + 5, T0 + 1, ["carol"])
    await store.write([newer])
    (carol,) = await store.load("carol")
    assert (carol.channel, carol.frame, carol.expires) == ("d", frame(9, "d"), T0 + 5)


async def test_recording_for_nobody_keeps_nothing(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1)])
    assert await store.expire(T0 + 10_000, 10) == []
    await store.write([recorded(1, "alice", expires=T0 + 50)])
    assert [d.expires for d in await store.load("alice")] == [T0 + 50]


async def test_take_removes_and_returns_what_was_pending(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice"), recorded(2, "alice"), recorded(3, "bob")])
    taken = await store.take("alice", ["ev-1", "ev-3", "ev-404"])
    assert [(d.client_id, d.event_id, d.frame) for d in taken] == [("alice", "ev-1", frame(1))]
    assert await store.take("alice", ["ev-1"]) == []
    assert await store.take("alice", []) == []
    assert await ids(store, "alice") == {"ev-2"}
    assert await ids(store, "bob") == {"ev-3"}


async def test_racing_takes_hand_a_delivery_out_once(delivery_kit: DeliveryKit) -> None:
    first, second = delivery_kit.store(), delivery_kit.store()
    await first.write([recorded(n, "alice") for n in range(1, 21)])
    wanted = [f"ev-{n}" for n in range(1, 21)]
    results = await asyncio.gather(
        *(store.take("alice", wanted) for store in (first, second, first, second))
    )
    handed_out = [d.event_id for result in results for d in result]
    assert sorted(handed_out) == sorted(wanted)


async def test_expire_hands_out_what_is_due_soonest_first_within_the_limit(
    delivery_kit: DeliveryKit,
) -> None:
    store = delivery_kit.store()
    await store.write(
        [
            recorded(1, "alice", "bob", expires=T0 + 30),
            recorded(2, "alice", expires=T0 + 10),
            recorded(3, "alice", expires=T0 + 90),
        ]
    )
    assert await store.expire(T0 + 5, 10) == []
    first = await store.expire(T0 + 30, 2)
    assert [(d.event_id, d.client_id) for d in first[:1]] == [("ev-2", "alice")]
    assert len(first) == 2 and first[1].event_id == "ev-1"
    rest = await store.expire(T0 + 30, 10)
    assert [d.event_id for d in rest] == ["ev-1"]
    assert {first[1].client_id, rest[0].client_id} == {"alice", "bob"}
    assert await store.expire(T0 + 30, 10) == []
    assert await ids(store, "alice") == {"ev-3"} and await store.load("bob") == []
    expired = await store.expire(T0 + 1_000, 10)
    assert [(d.event_id, d.frame) for d in expired] == [("ev-3", frame(3))]


async def test_an_expired_delivery_keeps_its_count(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write(
        [recorded(1, "alice", expires=T0 + 2), DeliveryRescheduled("alice", "ev-1", 3, T0 + 9)]
    )
    (expired,) = await store.expire(T0 + 2, 5)
    assert (expired.retries, expired.due, expired.expires) == (3, T0 + 9, T0 + 2)


async def test_many_deliveries_in_one_write(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    clients = [f"client-{n}" for n in range(500)]
    await store.write([recorded(n, *clients) for n in range(1, 11)])
    assert len(await store.load("client-499")) == 10
    await store.write([DeliveriesSettled(c, [f"ev-{n}" for n in range(1, 11)]) for c in clients])
    assert await store.load("client-0") == []
    assert await store.expire(T0 + 10_000, 10_000) == []


async def test_what_a_durable_store_holds_outlives_the_store(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    await store.write([recorded(1, "alice"), DeliveryRescheduled("alice", "ev-1", 1, T0 + 40)])
    assert store.durable is delivery_kit.same_data
    if not delivery_kit.same_data:
        return  # memory: nothing outlives the process, and it says so
    await store.close()
    again = delivery_kit.store()
    (delivery,) = await again.load("alice")
    assert (delivery.frame, delivery.retries, delivery.due) == (frame(1), 1, T0 + 40)


async def test_stores_describe_themselves(delivery_kit: DeliveryKit) -> None:
    store = delivery_kit.store()
    assert isinstance(store, DeliveryStore)
    assert store.name == delivery_kit.name
    assert store.shared is (delivery_kit.name == "redis")
    assert store.name in repr(store).lower()
