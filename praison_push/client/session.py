"""The client's session state and frame decisions, sans I/O (PROTOCOL.md §2–§3).

What a client must remember across connections, and what each frame from the
gateway means, with no event loop, socket or clock: the role python-websockets
gives ``protocol.py``. The connection supervisor (:mod:`.connection`) feeds it
frames; :meth:`ClientSession.receive` answers with *decisions* — small action
objects the async client carries out (resolve a reply, deliver a message, send a
pong, fire a handler). Tests drive it with dicts in and decisions out.

It holds:

* the **subscriptions** renewed after every reconnect, and which of them are
  held only for an agent run (dropped once the run ends);
* a :class:`~praison_push.protocol.ReceiveTracker`: each channel's last
  ``(epoch, offset)``, which a resubscribe asks the gateway to replay from, and
  the recent ``event_id``\\ s that turn redeliveries into duplicates;
* the **unacknowledged** deliveries, sent in ``message_ack`` batches of at
  most :data:`MAX_ACK_BATCH` ids, at most :data:`ACK_INTERVAL` after the
  oldest was handled (the driver keeps the time; this module reads no clock);
* the presence **status** re-sent by the heartbeat and after reconnects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Union

from praison_push.protocol import ReceiveTracker
from praison_push.protocol.presence import PRESENCE_DIFF, presence_events

from .values import Acknowledger, ChannelMessage

__all__ = [
    "ACK_INTERVAL",
    "MAX_ACK_BATCH",
    "Action",
    "ClientSession",
    "Emit",
    "HistoryLost",
    "Received",
    "Reply",
    "Send",
]

logger = logging.getLogger("praison_push.client")

#: Most event ids in one ``message_ack`` frame: a batch this full goes out at once
#: (the gateway accepts up to 1,000).
MAX_ACK_BATCH = 100
#: Longest a handled message waits for its acknowledgement to go out (seconds).
ACK_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``frame`` now, without waiting (the answer to a ``ping``)."""

    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """Hand ``frame`` to the request whose ``ref`` it echoes; an ``error`` nobody awaits is news."""

    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Received:
    """A channel message: for a run's handle, then (unless ``duplicate``) for waiters and handlers.

    A duplicate was handled before; it is acknowledged again, since the gateway
    redelivered it for want of that acknowledgement. ``run_only``: the channel is
    subscribed only to follow a run, so the message goes to the run's handle and
    waiters, not to every ``channel_message`` handler (subscribe to get them there).
    """

    message: ChannelMessage
    duplicate: bool
    run_only: bool = False


@dataclass(frozen=True, slots=True)
class Emit:
    """Call the ``on(event)`` handlers with ``payload``."""

    event: str
    payload: Any


@dataclass(frozen=True, slots=True)
class HistoryLost:
    """Messages missed on ``channel`` are gone from the gateway's history.

    ``emptied``: the gateway started a new, empty epoch — for a run's channel,
    the gateway no longer knows the run at all.
    """

    channel: str
    emptied: bool


#: One decision of :meth:`ClientSession.receive`.
Action = Union[Send, Reply, Received, Emit, HistoryLost]  # noqa: UP007 - a runtime alias on 3.10


def _gap_event(channel: str, epoch: Any, offset: Any, reason: str) -> dict[str, Any]:
    """The payload of the application's ``gap`` event."""
    return {"type": "gap", "channel": channel, "epoch": epoch, "offset": offset, "reason": reason}


class ClientSession:
    """Subscriptions, positions, de-duplication and acknowledgements of one client.

    Survives reconnects; :meth:`reset` starts afresh (the client closed for good).

    Args:
        window: How many recent event ids to remember for de-duplication.
        acker: What the messages' :meth:`~ChannelMessage.ack` goes through.

    Attributes:
        status: The ``presence.heartbeat`` frame of the last ``set_status``
            (``None``: never set), re-sent by heartbeats and after reconnects.
    """

    def __init__(self, *, window: int = 10_000, acker: Acknowledger | None = None) -> None:
        self._window = window
        self._acker = acker
        self._tracker = ReceiveTracker(window)
        self._subscriptions: set[str] = set()
        self._run_only: set[str] = set()
        self._unacked: list[str] = []
        self._owed_since: float | None = None
        self.status: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return (
            f"<ClientSession {len(self._subscriptions)} subscriptions "
            f"{len(self._unacked)} unacknowledged>"
        )

    # --- subscriptions -------------------------------------------------------------

    @property
    def subscriptions(self) -> frozenset[str]:
        """Channels subscribed to (renewed after every reconnect)."""
        return frozenset(self._subscriptions)

    def subscribe(self, channel: str) -> dict[str, Any] | None:
        """The ``channel.subscribe`` frame a user subscription needs (``None``: subscribed).

        Subscribed by the user, a run's channel is no longer dropped when the
        run ends. A fresh subscription starts at the live edge: a position kept
        from an earlier one would replay what was published while not subscribed.
        """
        self._run_only.discard(channel)
        if channel in self._subscriptions:
            return None
        self._tracker.forget(channel)
        return {"type": "channel.subscribe", "channel": channel}

    def subscribed(self, channel: str) -> None:
        """The gateway accepted the subscription: renew it after reconnects."""
        self._subscriptions.add(channel)

    def unsubscribe(self, channel: str) -> dict[str, Any]:
        """Forget ``channel`` and its position; the ``channel.unsubscribe`` frame to send."""
        self._subscriptions.discard(channel)
        self._run_only.discard(channel)
        self._tracker.forget(channel)
        return {"type": "channel.unsubscribe", "channel": channel}

    def hold_for_run(self, channel: str) -> None:
        """Subscribe ``channel`` for a run's sake (unless the user subscribed it already)."""
        if channel not in self._subscriptions:
            self._subscriptions.add(channel)
            self._run_only.add(channel)

    def release_run(self, channel: str) -> bool:
        """Drop a subscription held only for a run; tell whether there was one to drop."""
        if channel not in self._run_only:
            return False
        self._run_only.discard(channel)
        self._subscriptions.discard(channel)
        self._tracker.forget(channel)
        return True

    def refused(self, channel: str) -> None:
        """The gateway refused to renew ``channel`` (e.g. revoked): stop renewing it."""
        self._subscriptions.discard(channel)

    # --- positions -------------------------------------------------------------------

    def position(self, channel: str) -> tuple[str, int] | None:
        """The last ``(epoch, offset)`` received on ``channel``, if any."""
        return self._tracker.position(channel)

    def replay_from(self, channel: str, epoch: str, offset: int = 0) -> dict[str, Any]:
        """The ``channel.subscribe`` that replays ``channel`` from after ``offset`` in ``epoch``.

        A run is replayed from its first event this way. The position is noted
        first, so the reply cannot make it jump to the channel's latest offset.
        """
        self._tracker.advance(channel, epoch, offset)
        since = {"offset": offset, "epoch": epoch}
        return {"type": "channel.subscribe", "channel": channel, "since": since}

    def resubscribe_frame(self, channel: str) -> dict[str, Any]:
        """The ``channel.subscribe`` that renews ``channel``, asking for what was missed."""
        frame: dict[str, Any] = {"type": "channel.subscribe", "channel": channel}
        position = self._tracker.position(channel)
        if position is not None:
            frame["since"] = {"offset": position[1], "epoch": position[0]}
        return frame

    # --- receiving -------------------------------------------------------------------

    def receive(self, frame: dict[str, Any]) -> list[Action]:
        """What one frame from the gateway calls for, in the order to carry it out."""
        kind = frame.get("type")
        if kind == "channel_message":
            message = ChannelMessage.from_event_dict(frame, self._acker)
            if not message.redelivered and self._continues(message):
                # A redelivery is older than the position (it comes back before the
                # replay on a resubscribe): it must not move the position back.
                self._tracker.advance(message.channel, message.epoch, message.offset)
            duplicate = not self._tracker.is_new(message.event_id)
            return [Received(message, duplicate, message.channel in self._run_only)]
        if kind == "channel_gap":
            return self._gap(frame)
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "id" in frame:
                pong["id"] = frame["id"]
            return [Send(pong)]
        actions: list[Action] = []
        if "ref" in frame or kind == "error":
            actions.append(Reply(frame))
        if kind == "channel.subscribed":
            actions.extend(self._subscribed(frame))
        elif kind == "presence.list":
            clients = frame.get("presence")
            payload = {
                "clients": clients if isinstance(clients, list) else [],
                "channel": frame.get("channel"),
            }
            actions.append(Emit("presence_list", payload))
        elif kind == PRESENCE_DIFF:
            # A busy channel's changes come batched (PROTOCOL.md §8): handlers of the
            # single events (and the widgets) see each of them as if sent alone.
            actions.extend(Emit(event["type"], event) for event in presence_events(frame))
        if isinstance(kind, str):
            actions.append(Emit(kind, frame))
        return actions

    def _subscribed(self, frame: dict[str, Any]) -> list[Action]:
        """Adopt the position a ``channel.subscribed`` reports (PROTOCOL.md §3)."""
        channel, epoch, offset = frame.get("channel"), frame.get("epoch"), frame.get("offset")
        if not (isinstance(channel, str) and isinstance(epoch, str) and isinstance(offset, int)):
            return []
        current = self._tracker.position(channel)
        actions: list[Action] = []
        if frame.get("recovered") is False and current is not None:
            logger.warning(
                "messages on %r missed while disconnected are no longer in history", channel
            )
            actions.append(HistoryLost(channel, emptied=offset == 0))
            actions.append(Emit("gap", _gap_event(channel, epoch, offset, "history_lost")))
        # A fresh subscription starts from the gateway's position; a recovery keeps
        # ours, advanced by the replayed messages. After an epoch change the gateway
        # replays the new epoch from its start: it is read from there, not from its tail.
        if current is None:
            self._tracker.advance(channel, epoch, offset)
        elif current[0] != epoch:
            self._tracker.advance(channel, epoch, 0)
        return actions

    def _continues(self, message: ChannelMessage) -> bool:
        """Whether ``message`` may move its channel's position: same epoch, or a new
        epoch seen from its start. A live message of a new epoch seen midway leaves
        the old position, so the next resubscribe reads the new epoch from its start
        (what came before it in that epoch is not skipped silently)."""
        current = self._tracker.position(message.channel)
        return current is None or current[0] == message.epoch or message.offset == 1

    def _gap(self, frame: dict[str, Any]) -> list[Action]:
        """A ``channel_gap`` notice: messages were dropped (a slow consumer's policy) or lost."""
        channel, epoch, offset = frame.get("channel"), frame.get("epoch"), frame.get("offset")
        if not isinstance(channel, str):
            return []
        if isinstance(epoch, str) and isinstance(offset, int):
            # What was dropped is not coming back: the position moves past it.
            self._tracker.advance(channel, epoch, offset)
        reason = str(frame.get("reason") or "dropped")
        logger.warning("messages on %r were dropped by the gateway (%s)", channel, reason)
        return [Emit("gap", _gap_event(channel, epoch, offset, reason))]

    # --- acknowledgements --------------------------------------------------------------

    @property
    def unacknowledged(self) -> int:
        """How many delivered messages still await their acknowledgement."""
        return len(self._unacked)

    def delivered(self, event_id: str, now: float = 0.0) -> bool:
        """Handlers have seen ``event_id`` (at ``now``): acknowledge it with the next batch.

        Returns whether a full batch is owed, to be sent at once.
        """
        if not self._unacked:
            self._owed_since = now
        self._unacked.append(event_id)
        return len(self._unacked) >= MAX_ACK_BATCH

    def failed(self, event_id: str) -> None:
        """A handler raised on ``event_id``: no acknowledgement, and its redelivery is
        handled again (it no longer counts as a duplicate)."""
        self._tracker.forget_event(event_id)

    @property
    def ack_deadline(self) -> float | None:
        """When the owed acknowledgements must go out (``None``: none owed)."""
        if not self._unacked or self._owed_since is None:
            return None
        return self._owed_since + ACK_INTERVAL

    def ack_due(self, now: float) -> bool:
        """Whether owed acknowledgements should go out at ``now`` (a full batch, or time)."""
        deadline = self.ack_deadline
        return deadline is not None and (len(self._unacked) >= MAX_ACK_BATCH or now >= deadline)

    def next_ack(self) -> dict[str, Any] | None:
        """The next ``message_ack`` frame to send (``None``: nothing owed)."""
        if not self._unacked:
            return None
        batch = self._unacked[:MAX_ACK_BATCH]
        del self._unacked[: len(batch)]
        if not self._unacked:
            self._owed_since = None
        # No ack_received wanted: nothing waits for it, and it would cost the gateway a frame.
        return {"type": "message_ack", "event_ids": batch, "reply": False}

    def ack_not_sent(self, frame: dict[str, Any], now: float = 0.0) -> None:
        """A ``message_ack`` from :meth:`next_ack` could not be sent: owe it again, first."""
        if not self._unacked:
            self._owed_since = now
        self._unacked[:0] = frame["event_ids"]

    # --- ending ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (the client closed for good; a later connect starts afresh).

        Acknowledgements still owed are dropped: the gateway redelivers what it
        did not hear about, and a fresh session starts from the live edge.
        """
        self._tracker = ReceiveTracker(self._window)
        self._subscriptions.clear()
        self._run_only.clear()
        self._unacked.clear()
        self._owed_since = None
        self.status = None
