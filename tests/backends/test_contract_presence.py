"""PresenceStore contract (backends/base.py), run against every store.

Two stores of one kit are two gateways sharing it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from praison_push.backends import PresenceStore

from .shared_kits import SharedKit

T0 = 1_700_000_000.5

Kit = SharedKit[PresenceStore]


def entry(client_id: str, *subs: str, status: str = "online") -> dict[str, Any]:
    return {
        "client_id": client_id,
        "user_id": None,
        "status": status,
        "last_seen": T0,
        "metadata": {"name": "Zoë ☕"},
        "channels": sorted(subs),
        "org_id": None,
        "subs": sorted(subs),
    }


def ids(found: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    return {node: {e["client_id"] for e in entries} for node, entries in found.items()}


async def test_each_node_lists_the_entries_of_all(presence_kit: Kit) -> None:
    a, b = presence_kit.store(), presence_kit.store()
    await a.write("A", {"alice": entry("alice", "c")}, [], expires=T0 + 10)
    await b.write("B", {"bob": entry("bob", "c"), "carol": entry("carol")}, [], expires=T0 + 10)
    found = await a.read(T0)
    assert ids(found) == {"A": {"alice"}, "B": {"bob", "carol"}}
    assert [e for e in found["A"]] == [entry("alice", "c")]  # kept whole, unicode too
    assert ids(await b.read(T0)) == ids(found)


async def test_writes_update_and_remove_entries(presence_kit: Kit) -> None:
    store = presence_kit.store()
    await store.write("A", {"alice": entry("alice"), "bob": entry("bob")}, [], expires=T0 + 10)
    away = entry("alice", "c", status="away")
    await store.write("A", {"alice": away}, ["bob", "nobody"], expires=T0 + 10)
    assert (await store.read(T0))["A"] == [away]
    await store.write("A", {"carol": entry("carol")}, [], expires=T0 + 10, replace=True)
    assert ids(await store.read(T0)) == {"A": {"carol"}}


async def test_a_node_that_stops_refreshing_is_not_listed_once_expired(presence_kit: Kit) -> None:
    store = presence_kit.store()
    await store.write("A", {"alice": entry("alice")}, [], expires=T0 + 5)
    await store.write("B", {"bob": entry("bob")}, [], expires=T0 + 20)
    assert ids(await store.read(T0 + 4.9)) == {"A": {"alice"}, "B": {"bob"}}
    assert ids(await store.read(T0 + 5)) == {"B": {"bob"}}
    # A refresh brings it back for another term.
    await store.write("A", {}, [], expires=T0 + 30)
    assert ids(await store.read(T0 + 25)) == {"A": {"alice"}}


async def test_a_dead_node_is_reaped_once_with_its_entries(presence_kit: Kit) -> None:
    stores = [presence_kit.store() for _ in range(3)]
    await stores[0].write("A", {"alice": entry("alice", "c")}, [], expires=T0 + 5)
    await stores[0].write("B", {"bob": entry("bob")}, [], expires=T0 + 50)
    assert await stores[1].reap(T0 + 4) == {}
    results = await asyncio.gather(*(s.reap(T0 + 6) for s in stores))
    winners = [r for r in results if r]
    assert winners == [{"A": [entry("alice", "c")]}]  # exactly one reaper gets it
    assert ids(await stores[2].read(T0 + 6)) == {"B": {"bob"}}
    assert await stores[2].reap(T0 + 7) == {}


async def test_a_removed_node_is_gone_at_once(presence_kit: Kit) -> None:
    store = presence_kit.store()
    await store.write("A", {"alice": entry("alice")}, [], expires=T0 + 50)
    await store.remove_node("A")
    await store.remove_node("A")  # again: nothing happens
    assert await store.read(T0) == {}
    assert await store.reap(T0 + 100) == {}
