"""The values users hold: ChannelMessage, PresenceInfo, PublishReceipt."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from praison_push.client import ChannelMessage, PresenceInfo, PublishReceipt

FULL_FRAME: dict[str, Any] = {
    "type": "channel_message",
    "channel": "alerts",
    "data": {"level": "high"},
    "event_id": "abc-1",
    "timestamp": 1700000000.5,
    "source": "alice",
    "target": None,
    "offset": 7,
    "epoch": "e1",
}


# --- ChannelMessage ------------------------------------------------------------------------------


def test_channel_message_from_a_full_frame() -> None:
    message = ChannelMessage.from_event_dict(FULL_FRAME)
    assert message == ChannelMessage(
        channel="alerts",
        data={"level": "high"},
        event_id="abc-1",
        timestamp=1700000000.5,
        source="alice",
        offset=7,
        epoch="e1",
        redelivered=False,
    )


def test_channel_message_round_trips_through_to_dict() -> None:
    message = ChannelMessage.from_event_dict(FULL_FRAME)
    assert message.to_dict() == {
        "channel": "alerts",
        "data": {"level": "high"},
        "event_id": "abc-1",
        "timestamp": 1700000000.5,
        "source": "alice",
        "offset": 7,
        "epoch": "e1",
    }
    assert ChannelMessage.from_event_dict(message.to_dict()) == message


def test_channel_message_tolerates_missing_fields() -> None:
    # A PraisonAI gateway without history sends no offset/epoch; some send even less.
    assert ChannelMessage.from_event_dict({}) == ChannelMessage(channel="")
    message = ChannelMessage.from_event_dict({"channel": "c", "data": 1})
    assert (message.event_id, message.timestamp, message.source) == ("", 0.0, None)
    assert (message.offset, message.epoch, message.redelivered) == (None, None, False)


@pytest.mark.parametrize(
    ("field", "odd", "expected"),
    [
        ("timestamp", "yesterday", 0.0),
        ("timestamp", None, 0.0),
        ("timestamp", 12, 12.0),
        ("offset", "7", None),
        ("offset", 7.5, None),
        ("channel", 5, "5"),
        ("event_id", 123, "123"),
    ],
)
def test_channel_message_tolerates_odd_fields(field: str, odd: Any, expected: Any) -> None:
    message = ChannelMessage.from_event_dict({**FULL_FRAME, field: odd})
    assert getattr(message, field) == expected


def test_channel_message_redelivery_flag() -> None:
    frame = {**FULL_FRAME, "_redelivered": True, "_retry_count": 2}
    assert ChannelMessage.from_event_dict(frame).redelivered is True


def test_channel_message_str_is_short() -> None:
    assert str(ChannelMessage("c", "hello")) == "[c] hello"
    assert str(ChannelMessage("c", {"a": 1})) == '[c] {"a":1}'
    long = str(ChannelMessage("c", "x" * 500))
    assert long == "[c] " + "x" * 79 + "…"
    assert str(ChannelMessage("c", "y" * 80)) == "[c] " + "y" * 80


def test_channel_message_html_is_escaped() -> None:
    html = ChannelMessage("<c>", "<script>", event_id="'e'")._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;c&gt;" in html
    assert "&#x27;e&#x27;" in html


def test_channel_message_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ChannelMessage("c").data = 1  # type: ignore[misc]


# --- PresenceInfo --------------------------------------------------------------------------------


def test_presence_info_from_a_full_entry_and_back() -> None:
    entry = {
        "client_id": "alice",
        "user_id": "u1",
        "status": "away",
        "last_seen": 12.5,
        "metadata": {"role": "reader"},
        "channels": ["a", "b"],
    }
    info = PresenceInfo.from_dict(entry)
    assert info == PresenceInfo("alice", "away", 12.5, {"role": "reader"}, ("a", "b"), "u1")
    assert info.to_dict() == entry


def test_presence_info_tolerates_missing_and_odd_fields() -> None:
    assert PresenceInfo.from_dict({}) == PresenceInfo(client_id="")
    odd = PresenceInfo.from_dict(
        {"client_id": 7, "status": None, "last_seen": "now", "metadata": [1], "channels": "a"}
    )
    assert odd == PresenceInfo(client_id="7", status="None")
    assert PresenceInfo.from_dict({"last_seen": 3}).last_seen == 3.0


def test_presence_info_indexes_like_a_dict() -> None:
    # The seed's examples write user['status'].
    info = PresenceInfo("bob", "busy", metadata={"k": 1}, channels=("c",))
    assert info["status"] == "busy"
    assert info["client_id"] == "bob"
    assert info["metadata"] == {"k": 1}
    assert info["channels"] == ["c"]
    assert info["user_id"] is None
    with pytest.raises(KeyError):
        info["nope"]


def test_presence_info_to_dict_copies() -> None:
    info = PresenceInfo("bob", metadata={"k": 1})
    info.to_dict()["metadata"]["k"] = 2
    assert info.metadata == {"k": 1}


def test_presence_info_defaults() -> None:
    info = PresenceInfo("x")
    assert (info.status, info.last_seen, info.metadata, info.channels, info.user_id) == (
        "online",
        0.0,
        {},
        (),
        None,
    )


# --- PublishReceipt ------------------------------------------------------------------------------


def test_publish_receipt_from_frame() -> None:
    frame = {
        "type": "channel.published",
        "channel": "c",
        "delivered": 3,
        "event_id": "e9",
        "offset": 4,
        "duplicate": True,
    }
    receipt = PublishReceipt.from_frame(frame)
    assert receipt == PublishReceipt("c", "e9", 3, 4, True)
    assert str(receipt) == "published to c: delivered to 3 (event e9)"


def test_publish_receipt_tolerates_a_minimal_frame() -> None:
    assert PublishReceipt.from_frame({}) == PublishReceipt("", "", 0, None, False)
    assert PublishReceipt.from_frame({"offset": "4", "delivered": "2"}).offset is None
    assert PublishReceipt.from_frame({"delivered": "2"}).delivered == 2


def test_presence_snapshot_is_a_list_with_readable_reprs() -> None:
    from praison_push.client import PresenceInfo, PresenceSnapshot

    empty = PresenceSnapshot()
    assert empty == [] and str(empty) == "nobody present"
    assert "nobody present" in empty._repr_html_()
    snapshot = PresenceSnapshot(
        [
            PresenceInfo("alice", "busy", metadata={"role": "<ops>"}, channels=("alerts",)),
            PresenceInfo("bob"),
        ]
    )
    assert [entry.client_id for entry in snapshot] == ["alice", "bob"]
    assert "alice" in str(snapshot) and "busy" in str(snapshot)
    html = snapshot._repr_html_()
    assert "<table>" in html and "&lt;ops&gt;" in html and "<ops>" not in html
    assert html.count("<tr>") == 3


def test_publish_receipt_html_is_escaped_and_notes_duplicates() -> None:
    from praison_push.client import PublishReceipt

    receipt = PublishReceipt("a<b", "e1", 3, offset=7)
    html = receipt._repr_html_()
    assert "a&lt;b" in html and "<b>3</b>" in html and "offset 7" in html
    duplicate = PublishReceipt("c", "e2", 0, duplicate=True)
    assert "duplicate" in duplicate._repr_html_() and "offset" not in duplicate._repr_html_()
