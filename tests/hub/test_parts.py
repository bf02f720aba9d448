"""The hub's small parts: channel registry and filters, id factory, dedup window."""

from __future__ import annotations

import re

from praison_push.hub import ANONYMOUS, ChannelRegistry, Connection
from praison_push.hub.channels import matches_filters
from praison_push.hub.dedup import DedupWindow
from praison_push.hub.ids import IdFactory, _base36


def connection(client_id: str) -> Connection:
    return Connection(
        f"s-{client_id}",
        client_id,
        principal=ANONYMOUS,
        peer="127.0.0.1",
        now=0.0,
        max_frames=10,
        max_bytes=10_000,
    )


def test_matches_filters() -> None:
    assert matches_filters({}, {"a": 1})
    assert not matches_filters({}, "not a dict")
    assert matches_filters({"a": "1"}, {"a": 1, "b": 2})
    assert matches_filters({"a": "True"}, {"a": True})
    assert not matches_filters({"a": "1"}, {"b": 1})
    assert matches_filters({"a": "None"}, {})  # str(None): a missing key equals "None"


def test_registry_create_get_and_names() -> None:
    registry = ChannelRegistry()
    created = registry.create("b", 5.0, {"k": 1})
    assert registry.create("b", 9.0, {"j": 2}) is created
    assert registry.create("b", 9.0) is created
    registry.create("a", 6.0)
    assert created.created_at == 5.0
    assert created.metadata == {"k": 1, "j": 2}
    assert registry.names() == ["a", "b"]
    assert len(registry) == 2
    assert "a" in registry and "zz" not in registry and 3 not in registry
    assert registry.get("b") is created
    assert registry.get("zz") is None


def test_registry_subscribe_counts_members_per_client() -> None:
    registry = ChannelRegistry()
    channel = registry.create("c", 0.0)
    one, two, other = connection("bob"), connection("bob"), connection("ann")
    assert registry.subscribe(channel, one, None) is True
    assert registry.subscribe(channel, two, {"k": "v"}) is False
    assert registry.subscribe(channel, one, {"k": "w"}) is False  # refresh, not a new member
    assert registry.subscribe(channel, other, None) is True
    assert dict(channel.members) == {"bob": 2, "ann": 1}
    assert one.subscriptions == {"c": {"k": "w"}}
    assert registry.unsubscribe(channel, one) is False
    assert registry.unsubscribe(channel, one) is False  # already gone
    assert registry.unsubscribe(channel, two) is True
    assert dict(channel.members) == {"ann": 1}
    assert list(channel.subscribers) == [other]


def test_fan_out_without_subscribers_encodes_nothing() -> None:
    channel = ChannelRegistry().create("c", 0.0)
    assert channel.fan_out({"data": float("nan")}, None) == 0


def test_ids_are_unique_and_prefixed() -> None:
    factory = IdFactory()
    ids = [factory.next() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(rf"{factory.prefix}-[0-9a-z]+", i) for i in ids)
    assert IdFactory().prefix != factory.prefix
    assert IdFactory("node").next() == "node-1"


def test_base36() -> None:
    assert [_base36(n) for n in (0, 1, 35, 36, 1295, 1296)] == ["0", "1", "z", "10", "zz", "100"]


async def test_dedup_window_is_bounded() -> None:
    """The memory window keeps at most ``size`` keys (its contract: test_contract_dedup.py)."""
    window = DedupWindow(window=10.0, size=2)
    for key, offset in (("a", 2), ("b", 3), ("d", 4)):
        assert await window.claim("c", key, now=20.0, claim_ttl=5.0) is None
        await window.remember("c", key, {"offset": offset}, now=20.0, window=10.0)
    assert await window.claim("c", "a", now=20.0, claim_ttl=5.0) is None  # "a" was dropped
    assert await window.claim("c", "d", now=20.0, claim_ttl=5.0) == {"offset": 4}
