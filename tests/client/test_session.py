"""The sans-I/O client session: frames in, decisions and frames out — no loop, no socket."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from praison_push.client import ChannelMessage
from praison_push.client.session import (
    MAX_ACK_BATCH,
    ClientSession,
    Emit,
    HistoryLost,
    Received,
    Reply,
    Send,
)
from praison_push.testing import channel_message


def subscribed(channel: str, epoch: str, offset: int, **fields: Any) -> dict[str, Any]:
    return {"type": "channel.subscribed", "channel": channel, "ok": True, "epoch": epoch,
            "offset": offset, **fields}  # fmt: skip


def test_a_subscription_is_asked_for_once_and_renewed_from_its_position() -> None:
    session = ClientSession()
    assert session.subscribe("a") == {"type": "channel.subscribe", "channel": "a"}
    session.subscribed("a")
    assert session.subscribe("a") is None  # subscribed already: nothing to send
    assert session.subscriptions == {"a"}
    assert session.resubscribe_frame("a") == {"type": "channel.subscribe", "channel": "a"}
    session.receive(channel_message("a", 1, event_id="e1", offset=7, epoch="ep"))
    assert session.resubscribe_frame("a") == {
        "type": "channel.subscribe",
        "channel": "a",
        "since": {"offset": 7, "epoch": "ep"},
    }


def test_unsubscribing_forgets_the_position_so_a_fresh_subscribe_starts_live() -> None:
    session = ClientSession()
    session.subscribe("a")
    session.subscribed("a")
    session.receive(channel_message("a", 1, event_id="e1", offset=7, epoch="ep"))
    assert session.unsubscribe("a") == {"type": "channel.unsubscribe", "channel": "a"}
    assert session.subscriptions == frozenset() and session.position("a") is None
    session.receive(channel_message("a", 2, event_id="e2", offset=8, epoch="ep"))  # in flight
    assert session.subscribe("a") == {"type": "channel.subscribe", "channel": "a"}
    assert session.position("a") is None  # forgotten again: no replay of what was missed


def test_a_subscription_held_for_a_run_is_released_unless_the_user_subscribed_too() -> None:
    session = ClientSession()
    session.hold_for_run("executions:r1")
    assert session.subscriptions == {"executions:r1"}
    assert session.release_run("executions:r1") is True
    assert session.subscriptions == frozenset()
    assert session.release_run("executions:r1") is False

    session.hold_for_run("executions:r2")
    assert session.subscribe("executions:r2") is None  # the user wants it too: already there
    assert session.release_run("executions:r2") is False
    assert session.subscriptions == {"executions:r2"}

    session.subscribe("executions:r3")
    session.subscribed("executions:r3")
    session.hold_for_run("executions:r3")  # the user's subscription: not the run's
    assert session.release_run("executions:r3") is False


def test_a_replay_starts_from_the_given_offset_and_keeps_it() -> None:
    session = ClientSession()
    session.hold_for_run("executions:r")
    frame = session.replay_from("executions:r", "ep")
    assert frame == {
        "type": "channel.subscribe",
        "channel": "executions:r",
        "since": {"offset": 0, "epoch": "ep"},
    }
    # The gateway's reply names the channel's latest offset; the replay position stands.
    assert session.receive({**subscribed("executions:r", "ep", 9), "ref": 1}) == [
        Reply({**subscribed("executions:r", "ep", 9), "ref": 1}),
        Emit("channel.subscribed", {**subscribed("executions:r", "ep", 9), "ref": 1}),
    ]
    assert session.position("executions:r") == ("ep", 0)


def test_a_refused_renewal_stops_renewing() -> None:
    session = ClientSession()
    session.subscribe("a")
    session.subscribed("a")
    session.refused("a")
    assert session.subscriptions == frozenset()


# --- receiving -------------------------------------------------------------------------


def test_a_message_is_received_once_then_is_a_duplicate() -> None:
    session = ClientSession()
    frame = channel_message("a", {"n": 1}, event_id="e1", offset=3, epoch="ep", source="bob")
    (first,) = session.receive(frame)
    assert first == Received(
        ChannelMessage("a", {"n": 1}, "e1", 0.0, "bob", 3, "ep", redelivered=False), False
    )
    (again,) = session.receive({**frame, "_redelivered": True})
    assert isinstance(again, Received) and again.duplicate and again.message.redelivered
    (anonymous,) = session.receive({"type": "channel_message", "channel": "a", "data": 1})
    assert anonymous == Received(ChannelMessage("a", 1), False)  # no id: never a duplicate
    assert session.receive({"type": "channel_message", "channel": "a", "data": 1}) == [anonymous]


def test_positions_only_move_forward_within_an_epoch() -> None:
    session = ClientSession()
    session.receive(channel_message("a", 1, event_id="e5", offset=5, epoch="ep"))
    session.receive(channel_message("a", 1, event_id="e4", offset=4, epoch="ep"))  # late
    assert session.position("a") == ("ep", 5)
    session.receive(channel_message("a", 1, event_id="n1", offset=1, epoch="new"))
    assert session.position("a") == ("new", 1)


def test_the_window_of_remembered_ids_is_bounded() -> None:
    session = ClientSession(window=2)
    for n in range(3):
        session.receive(channel_message("a", n, event_id=f"e{n}"))
    (oldest,) = session.receive(channel_message("a", 0, event_id="e0"))
    assert isinstance(oldest, Received) and not oldest.duplicate  # forgotten


@pytest.mark.parametrize(
    ("ping", "pong"),
    [({"type": "ping"}, {"type": "pong"}), ({"type": "ping", "id": 7}, {"type": "pong", "id": 7})],
)
def test_a_ping_is_answered_at_once(ping: dict[str, Any], pong: dict[str, Any]) -> None:
    assert ClientSession().receive(ping) == [Send(pong)]


def test_replies_go_to_their_requests_and_every_typed_frame_to_its_handlers() -> None:
    session = ClientSession()
    reply = {"type": "channel.published", "ref": 3, "channel": "a"}
    assert session.receive(reply) == [Reply(reply), Emit("channel.published", reply)]
    news = {"type": "presence_join", "channel": "a", "data": {"client_id": "x"}}
    assert session.receive(news) == [Emit("presence_join", news)]
    assert session.receive({"no": "type"}) == []


def test_every_error_frame_is_offered_as_a_reply_so_an_unclaimed_one_is_reported() -> None:
    session = ClientSession()
    unsolicited = {"type": "error", "code": "internal", "message": "oops"}
    assert session.receive(unsolicited) == [Reply(unsolicited), Emit("error", unsolicited)]


def test_a_presence_list_is_also_emitted_in_the_seed_shape() -> None:
    session = ClientSession()
    frame = {"type": "presence.list", "ref": 1, "channel": "room", "presence": [{"client_id": "x"}]}
    assert session.receive(frame) == [
        Reply(frame),
        Emit("presence_list", {"clients": [{"client_id": "x"}], "channel": "room"}),
        Emit("presence.list", frame),
    ]
    odd = {"type": "presence.list", "presence": "junk"}
    assert Emit("presence_list", {"clients": [], "channel": None}) in session.receive(odd)


def test_a_subscribed_reply_sets_a_fresh_position_and_keeps_a_recovered_one() -> None:
    session = ClientSession()
    session.receive(subscribed("a", "ep", 41))
    assert session.position("a") == ("ep", 41)
    session.receive(channel_message("a", 1, event_id="e42", offset=42, epoch="ep"))
    session.receive(subscribed("a", "ep", 50, recovered=True))  # replay follows: keep ours
    assert session.position("a") == ("ep", 42)
    assert session.receive(subscribed("b", "ep", "x")) == [
        Emit("channel.subscribed", subscribed("b", "ep", "x"))
    ]
    assert session.position("b") is None


@pytest.mark.parametrize(("offset", "emptied"), [(0, True), (50, False)])
def test_history_lost_while_away_is_reported_and_the_new_epoch_adopted(
    offset: int, emptied: bool, caplog: pytest.LogCaptureFixture
) -> None:
    session = ClientSession()
    session.receive(channel_message("a", 1, event_id="e3", offset=3, epoch="old"))
    frame = subscribed("a", "new", offset, recovered=False)
    with caplog.at_level(logging.WARNING, "praison_push.client"):
        decisions = session.receive(frame)
    gap = {"type": "gap", "channel": "a", "epoch": "new", "offset": offset}
    assert decisions == [
        HistoryLost("a", emptied=emptied),
        Emit("gap", {**gap, "reason": "history_lost"}),
        Emit("channel.subscribed", frame),
    ]
    assert "no longer in history" in caplog.text
    # The gateway replays the new epoch from its start: read from there, not its tail
    # (before, the position jumped to the tail, and a drop mid-replay skipped the rest).
    assert session.position("a") == ("new", 0)
    session.receive(channel_message("a", 1, event_id="n1", offset=1, epoch="new"))
    assert session.position("a") == ("new", 1)


def test_a_live_message_of_a_new_epoch_seen_midway_keeps_the_old_position() -> None:
    session = ClientSession()
    session.receive(channel_message("a", 1, event_id="e3", offset=3, epoch="old"))
    # Offsets 1-4 of the new epoch never arrived: the next resubscribe names the old
    # epoch, so the gateway replays the new one from its start (nothing skipped).
    session.receive(channel_message("a", 1, event_id="n5", offset=5, epoch="new"))
    assert session.position("a") == ("old", 3)
    session.receive(channel_message("a", 1, event_id="m1", offset=1, epoch="newer"))
    assert session.position("a") == ("newer", 1)  # seen from its start


def test_a_gap_notice_is_a_gap_event_and_moves_the_position_past_the_drop() -> None:
    session = ClientSession()
    session.receive(channel_message("a", 1, event_id="e3", offset=3, epoch="ep"))
    notice = {
        "type": "channel_gap",
        "channel": "a",
        "epoch": "ep",
        "offset": 9,
        "reason": "slow_consumer",
    }
    assert session.receive(notice) == [
        Emit(
            "gap",
            {"type": "gap", "channel": "a", "epoch": "ep", "offset": 9, "reason": "slow_consumer"},
        )
    ]
    assert session.position("a") == ("ep", 9)


def test_lost_history_is_not_reported_for_a_channel_never_received() -> None:
    frame = subscribed("a", "ep", 0, recovered=False)
    assert ClientSession().receive(frame) == [Emit("channel.subscribed", frame)]


# --- acknowledgements, status, reset ------------------------------------------------------


def test_acknowledgements_go_out_in_bounded_batches_and_a_failed_one_comes_back_first() -> None:
    session = ClientSession()
    assert session.next_ack() is None
    for n in range(MAX_ACK_BATCH + 5):
        session.delivered(f"e{n}")
    first = session.next_ack()
    assert first is not None and first["type"] == "message_ack"
    assert first["event_ids"] == [f"e{n}" for n in range(MAX_ACK_BATCH)]
    session.ack_not_sent(first)
    assert session.unacknowledged == MAX_ACK_BATCH + 5
    assert session.next_ack() == first
    rest = session.next_ack()
    assert rest == {
        "type": "message_ack",
        "event_ids": [f"e{n}" for n in range(MAX_ACK_BATCH, MAX_ACK_BATCH + 5)],
        "reply": False,
    }
    assert session.next_ack() is None and session.unacknowledged == 0


def test_reset_forgets_everything() -> None:
    session = ClientSession()
    session.subscribe("a")
    session.subscribed("a")
    session.hold_for_run("executions:r")
    (first,) = session.receive(channel_message("a", 1, event_id="e1", offset=1))
    session.delivered("e1")
    session.status = {"type": "presence.heartbeat", "status": "busy"}
    session.reset()
    assert (session.subscriptions, session.position("a"), session.status) == (
        frozenset(),
        None,
        None,
    )
    assert session.next_ack() is None and session.release_run("executions:r") is False
    (again,) = session.receive(channel_message("a", 1, event_id="e1", offset=1))
    assert again == first  # new to the fresh session
    assert "0 subscriptions" in repr(session)
