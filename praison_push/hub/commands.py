"""One connection's commands: the handler table, and the channel policy behind it.

:class:`Commands` turns each frame a connection sends into its effect on the
node and the replies (centrifuge's ``client.go``): it decodes and validates the
frame in the connection's dialect, checks the channel policy (push enabled,
gateway-only channels, organisation scopes, limits) and answers — problems
become ``error`` frames, never exceptions (PROTOCOL.md §6).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from ..agents import Approval
from ..backends.base import BackendUnavailableError
from ..protocol import ErrorCode, FrameError
from ..protocol import frames as f
from ..protocol.codec import (
    decode_exact_frame,
    decode_object,
    is_shallow,
    validate_client_frame,
)
from ..protocol.dialects import Dialect, detect_dialect, from_agent_chat, from_envelope
from ..protocol.runs import is_run_feed
from . import reauth
from .agent_chat import agent_watch_filters
from .channels import Channel, matches_filters
from .connection import Connection
from .node import Node, ends_run
from .presence_queries import presence_page
from .publishing import check_publish_rate, claim
from .replay import CatchUp, answer, catch_up, gap_notice
from .runs import start_run
from .scopes import display_name, is_run_name, resolve_channel, visible_names

__all__ = ["Commands"]

_PRAISON = Dialect.PRAISON.value
_ENVELOPE = Dialect.ENVELOPE.value
_AGENT_CHAT = Dialect.AGENT_CHAT.value

logger = logging.getLogger("praison_push.hub")

_Handler = Callable[[Connection, Any], Awaitable[None]]


def _reply(connection: Connection, request: Any, frame: dict[str, Any]) -> None:
    """Send ``frame`` in answer to ``request`` (its ``ref`` echoed)."""
    if request.ref is not None:
        frame["ref"] = request.ref
    connection.send(frame)


def _forbid_reserved(name: str) -> None:
    """Channels only the gateway writes: ``$…``, run channels and the run feeds.

    A client publishing on ``executions`` could forge run events that
    agent-chat and envelope clients would show as an agent's answer.
    """
    if name.startswith("$") or is_run_name(name):
        raise FrameError(
            ErrorCode.FORBIDDEN,
            f"channel {name!r} is reserved for the gateway",
            field="channel",
        )


def _resolve(name: str, connection: Connection) -> str:
    """The internal channel ``connection`` means by ``name``, or ``forbidden``."""
    return resolve_channel(name, connection.principal)


def _permitted(node: Node, connection: Connection, action: str, name: str) -> str:
    """The internal channel, once the channel rules let ``connection`` ``action`` on it
    (:mod:`.permissions`; ``forbidden`` names the action and the channel)."""
    internal = resolve_channel(name, connection.principal)
    node.permissions.check(connection.principal, action, display_name(internal))
    return internal


class Commands:
    """Handles the frames of every connection of one node.

    Args:
        node: The node the commands act on.
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self._config = node.config
        self._handlers: dict[str, _Handler] = {
            "channel.create": self._on_create,
            "channel.subscribe": self._on_subscribe,
            "channel.unsubscribe": self._on_unsubscribe,
            "channel.publish": self._on_publish,
            "channel.list": self._on_list,
            "channel.history": self._on_history,
            "presence.heartbeat": self._on_heartbeat,
            "presence.query": self._on_presence_query,
            "message_ack": self._on_ack,
            "message_nack": self._on_nack,
            "execute": self._on_execute,
            "execution.cancel": self._on_cancel,
            "execution.approve": self._on_approve,
            "ping": self._on_ping,
            "pong": self._on_pong,
            "auth": partial(reauth.on_auth, node),
            "auth.refresh": partial(reauth.on_refresh, node),
        }

    async def receive(self, connection: Connection, text: str | bytes) -> None:
        """Handle one frame from ``connection``; problems become ``error`` frames.

        Never raises for anything the client sent: the connection and the
        gateway survive bad input (PROTOCOL.md §6).
        """
        node = self._node
        node.metrics.frames_in += 1
        connection.last_seen = node.clock()
        if connection.stale:
            connection.stale = False
            node.presence.announce_everywhere(connection, "presence_update")
        ref: Any = None
        max_size = self._config.limits.max_message_size
        try:
            frame = None
            # Acks, pings: one step. Not before the dialect is known (the first
            # frame fixes it) nor in another dialect (its frames are translated).
            if connection.dialect == _PRAISON and connection.dialect_fixed:
                frame = decode_exact_frame(text, max_size=max_size)
            if frame is None:
                obj = self._to_native(connection, decode_object(text, max_size=max_size))
                ref = obj.get("ref")
                if not isinstance(ref, (str, int)) or isinstance(ref, bool):
                    ref = None
                frame = validate_client_frame(obj, shallow=is_shallow(text))
            else:
                ref = frame.ref
            await self._handlers[frame.type](connection, frame)
        except FrameError as exc:
            self._error(connection, exc, ref)
        except BackendUnavailableError as exc:
            # Redis is away: the client may retry; the broker logs and reconnects.
            # One per frame while Redis is away: the gateway's log filter throttles it.
            logger.warning(
                "backend unavailable for a frame from %s: %s",
                connection.connection_id,
                exc,
                extra={"throttle": True},
            )
            unavailable = FrameError(ErrorCode.INTERNAL, f"backend unavailable, retry later: {exc}")
            self._error(connection, unavailable, ref)
        except Exception:
            logger.exception("internal error handling a frame from %s", connection.connection_id)
            self._error(connection, FrameError(ErrorCode.INTERNAL, "internal error"), ref)

    @staticmethod
    def _to_native(connection: Connection, obj: dict[str, Any]) -> dict[str, Any]:
        """Fix the dialect on the first frame, then translate foreign frames."""
        if not connection.dialect_fixed:
            detected = detect_dialect(None, obj)
            connection.set_dialect((detected or Dialect.PRAISON).value)
        dialect = connection.dialect
        if dialect == _PRAISON:  # most frames: no enum lookups on this path
            return obj
        if dialect == _ENVELOPE:
            return from_envelope(obj)
        if dialect == _AGENT_CHAT:
            return from_agent_chat(obj, connection.conversation_id)
        return obj

    def _error(self, connection: Connection, exc: FrameError, ref: Any) -> None:
        self._node.metrics.errors[exc.code.value] += 1
        frame: dict[str, Any] = {"type": "error", **exc.to_error_fields()}
        if ref is not None:
            frame["ref"] = ref
        connection.send(frame)

    # --- policy -------------------------------------------------------------

    def _require_push(self) -> None:
        if not self._config.push.enabled:
            raise FrameError(ErrorCode.FORBIDDEN, "push is disabled (PushConfig.enabled=False)")

    def _channel_for(self, name: str, *, create: bool) -> Channel:
        channels = self._node.channels
        channel = channels.get(name)
        if channel is not None:
            return channel
        if not create:
            raise FrameError(
                ErrorCode.UNKNOWN_CHANNEL,
                f"channel {name!r} does not exist (auto_create_channels is off)",
                field="channel",
            )
        limit = self._config.limits.max_channels
        if len(channels) >= limit:
            raise FrameError(
                ErrorCode.LIMIT_EXCEEDED,
                f"max_channels={limit} reached",
                limit="max_channels",
                details={"max": limit},
            )
        return channels.create(name, self._node.clock())

    # --- connection -----------------------------------------------------------

    async def _on_ping(self, connection: Connection, frame: f.PingFrame) -> None:
        reply: dict[str, Any] = {"type": "pong"}
        if frame.id is not None:
            reply["id"] = frame.id
        _reply(connection, frame, reply)

    async def _on_pong(self, connection: Connection, frame: f.PongFrame) -> None:
        return None

    # --- channels -----------------------------------------------------------

    async def _on_create(self, connection: Connection, frame: f.ChannelCreateFrame) -> None:
        self._require_push()
        _forbid_reserved(frame.channel)
        name = _permitted(self._node, connection, "publish", frame.channel)
        channel = self._channel_for(name, create=True)
        channel.explicit = True
        if frame.metadata:
            channel.metadata.update(frame.metadata)
        reply = {"type": "channel.created", "channel": frame.channel, "ok": True}
        _reply(connection, frame, reply)

    async def _on_subscribe(self, connection: Connection, frame: f.ChannelSubscribeFrame) -> None:
        self._require_push()
        node = self._node
        name = _permitted(node, connection, "subscribe", frame.channel)
        limit = self._config.limits.max_subscriptions_per_connection
        if name not in connection.subscriptions and len(connection.subscriptions) >= limit:
            raise FrameError(
                ErrorCode.LIMIT_EXCEEDED,
                f"max_subscriptions_per_connection={limit} reached",
                limit="max_subscriptions_per_connection",
                details={"max": limit},
            )
        filters = frame.filters
        if connection.dialect == Dialect.AGENT_CHAT.value and is_run_feed(name):
            filters = agent_watch_filters(connection, name, frame.filters, node.agents)
            if filters is None:  # no conversation: its own chats are all it sees
                watched = {"type": "channel.subscribed", "channel": frame.channel, "ok": True}
                _reply(connection, frame, {**watched, "filters": frame.filters})
                return
        channel = self._channel_for(name, create=self._config.auto_create_channels)
        since = None if frame.since is None else (frame.since.offset, frame.since.epoch)
        # A run is a bounded stream whose history exists to be replayed (PROTOCOL.md
        # §4): a watcher naming no position gets the run from its start, not a tail
        # without its execution_start. Other channels start live.
        whole_run = since is None and is_run_name(name) and not is_run_feed(name)
        read_limit = None if since or whole_run else 0
        tracker = node.tracker
        if tracker is not None:
            await tracker.attach(connection)  # its pending deliveries, from the store
        caught: CatchUp | None = None
        if since is not None and name not in connection.subscriptions:
            # A gap larger than the send queue goes out in pages first, and a lost
            # epoch's successor is read from its start (PROTOCOL.md §3).
            caught = await catch_up(node, connection, frame, name, since, filters)
            if caught is None:  # closed meanwhile
                node.channels.discard_if_unused(channel)
                return
            since = caught.since
        read, held = await node.read_joining(name, connection, since, read_limit)
        if since is not None:
            node.metrics.recoveries[bool(read.recovered)] += 1
        if not node.is_open(connection):
            node.channels.discard_if_unused(channel)
            return  # the connection closed while history was read
        # The channel may have been dropped while the history was read (its last
        # subscriber left): take the registry's current one.
        channel = node.channels.create(name, node.clock())
        # No await from here on: the replay, the held and the live stream join.
        renewed = name in connection.subscriptions
        joined = node.channels.subscribe(channel, connection, filters)
        announced = caught is not None and caught.announced
        if not announced:
            recovered = read.recovered and not (caught is not None and caught.gap)
            answer(connection, frame, read.offset, read.epoch, recovered)
        elif not read.recovered:
            # Lost after the pages were sent (evicted meanwhile): never a silent gap.
            connection.send(gap_notice(frame.channel, read.epoch, 0, "history_lost"))
        replay = [
            # The replay honours the subscription's filters, as live delivery does.
            message
            for message in read.messages
            if filters is None or matches_filters(filters, message.get("data"))
        ]
        if tracker is not None and not renewed and not announced:
            # Pending deliveries the replay does not carry come first: they are
            # older than anything replayed (PROTOCOL.md §8, acknowledged delivery).
            carried = {str(m.get("event_id")) for m in (*replay, *held)}
            tracker.resume(connection, name, carried)
        for message in replay:
            connection.send(message)
        sent_held = node.flush_held(channel, connection, read, held) if held else []
        if tracker is not None:
            tracker.replayed(connection, name, [*replay, *sent_held])
        if read.messages and ends_run(read.messages[-1]):
            node.release_run(channel)  # a finished run: nothing more will come
        elif joined:
            node.presence.announce(channel, "presence_join", connection)

    async def _on_unsubscribe(
        self, connection: Connection, frame: f.ChannelUnsubscribeFrame
    ) -> None:
        self._require_push()
        name = _resolve(frame.channel, connection)
        channel = self._node.channels.get(name)
        if channel is not None:
            self._node.unsubscribe(channel, connection)
        if self._node.tracker is not None:
            self._node.tracker.unsubscribed(connection, name)
        reply = {"type": "channel.unsubscribed", "channel": frame.channel, "ok": True}
        _reply(connection, frame, reply)

    async def _on_publish(self, connection: Connection, frame: f.ChannelPublishFrame) -> None:
        self._require_push()
        _forbid_reserved(frame.channel)
        node = self._node
        name = _permitted(node, connection, "publish", frame.channel)
        now = node.clock()
        check_publish_rate(self._config.limits, connection, now)
        if name not in node.channels and not self._config.auto_create_channels:
            self._channel_for(name, create=False)  # raises unknown_channel
        # De-duplication is per publishing client: another client reusing an id
        # must not be able to suppress this one's publication.
        dedup_key = None if frame.id is None else f"{connection.client_id}\x00{frame.id}"
        if dedup_key is not None:
            earlier = await claim(node, name, dedup_key, now)
            if earlier is not None:
                _reply(connection, frame, {**earlier, "delivered": 0, "duplicate": True})
                return
        # Nobody may listen here (a channel is kept only while it has subscribers
        # or was created explicitly); the publication still goes to history.
        echo_to = connection if frame.echo else None
        try:
            receipt = await node.publish(
                name, frame.data, source=connection.client_id, now=now, echo_to=echo_to
            )
        except BaseException:
            if dedup_key is not None:
                with contextlib.suppress(Exception):
                    await node.dedup.release(name, dedup_key)
            raise
        if dedup_key is not None:
            window = self._config.history.dedup_window
            await node.dedup.remember(name, dedup_key, receipt, now=now, window=window)
        _reply(connection, frame, dict(receipt))

    async def _on_list(self, connection: Connection, frame: f.ChannelListFrame) -> None:
        self._require_push()
        visible = visible_names(self._node.channels.names(), connection.principal)
        _reply(connection, frame, {"type": "channel.list", "channels": visible})

    async def _on_history(self, connection: Connection, frame: f.ChannelHistoryFrame) -> None:
        self._require_push()
        since = None if frame.since is None else (frame.since.offset, frame.since.epoch)
        name = _permitted(self._node, connection, "history", frame.channel)
        read = await self._node.history.read(name, since=since, limit=frame.limit)
        reply = {
            "type": "channel.history",
            "channel": frame.channel,
            "messages": read.messages,
            "offset": read.offset,
            "epoch": read.epoch,
            "recovered": read.recovered,
        }
        _reply(connection, frame, reply)

    # --- agent runs -----------------------------------------------------------

    async def _on_execute(self, connection: Connection, frame: f.ExecuteFrame) -> None:
        start_run(
            self._node,
            connection,
            frame.agent_id,
            frame.input,
            conversation_id=frame.session_id,
            ref=frame.ref,
        )

    async def _on_cancel(self, connection: Connection, frame: f.ExecutionCancelFrame) -> None:
        runs = self._node.runs
        ok = runs.cancel(frame.execution_id, connection.principal, connection.client_id)
        reply = {"type": "execution.cancelled", "execution_id": frame.execution_id, "ok": ok}
        _reply(connection, frame, reply)

    async def _on_approve(self, connection: Connection, frame: f.ExecutionApproveFrame) -> None:
        approval = Approval(frame.approved, frame.reason)
        ok = self._node.runs.answer(
            frame.execution_id,
            frame.tool_call_id,
            approval,
            connection.principal,
            connection.client_id,
        )
        reply = {
            "type": "execution.approved",
            "execution_id": frame.execution_id,
            "tool_call_id": frame.tool_call_id,
            "ok": ok,
        }
        _reply(connection, frame, reply)

    # --- presence -----------------------------------------------------------

    async def _on_heartbeat(self, connection: Connection, frame: f.PresenceHeartbeatFrame) -> None:
        self._require_push()
        changed = frame.status != connection.status or (
            frame.metadata is not None and frame.metadata != connection.metadata
        )
        connection.status = frame.status
        if frame.metadata is not None:
            connection.metadata = dict(frame.metadata)
        if changed:
            self._node.presence.announce_everywhere(connection, "presence_update")
        _reply(connection, frame, {"type": "presence.heartbeat_ack", "ok": True})

    async def _on_presence_query(self, connection: Connection, frame: f.PresenceQueryFrame) -> None:
        self._require_push()
        if not self._config.push.presence.enabled:
            raise FrameError(ErrorCode.FORBIDDEN, "presence is disabled (PresenceConfig.enabled)")
        channel = None
        if frame.channel is not None:
            channel = _permitted(self._node, connection, "presence", frame.channel)
        limits = self._config.limits
        page, next_cursor = await presence_page(
            self._node,
            channel,
            connection,
            limit=frame.limit or limits.presence_page_size,
            cursor=frame.cursor,
            max_bytes=limits.presence_page_max_bytes,
        )
        reply: dict[str, Any] = {
            "type": "presence.list",
            "channel": frame.channel,
            "presence": page,
        }
        if next_cursor is not None:
            reply["next_cursor"] = next_cursor
        _reply(connection, frame, reply)

    # --- acknowledgements ---------------------------------------------------

    async def _on_ack(self, connection: Connection, frame: f.MessageAckFrame) -> None:
        """Settle tracked deliveries; ``ok`` only when every id was pending (PROTOCOL.md §8)."""
        ids = ([] if frame.event_id is None else [frame.event_id]) + (frame.event_ids or [])
        if not ids:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "field 'event_id' or 'event_ids' is required",
                field="event_id",
            )
        tracker = self._node.tracker
        unknown = ids if tracker is None else await tracker.settle(connection, ids)
        if not frame.reply and frame.ref is None:
            return  # a batch sent without wanting an answer (the package's clients)
        reply: dict[str, Any] = {
            "type": "ack_received",
            "event_id": frame.event_id,
            "ok": not unknown,
        }
        if frame.event_ids:
            reply["event_ids"] = frame.event_ids
        if unknown:
            reply["unknown"] = unknown
        _reply(connection, frame, reply)

    async def _on_nack(self, connection: Connection, frame: f.MessageNackFrame) -> None:
        """Dead-letter a tracked delivery at once (``ok: false`` when it was not pending)."""
        tracker = self._node.tracker
        ok = tracker is not None and await tracker.reject(connection, frame.event_id, frame.reason)
        reply = {"type": "nack_received", "event_id": frame.event_id, "ok": ok}
        _reply(connection, frame, reply)
