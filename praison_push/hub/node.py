"""The node: one gateway's channels, connections and publications (centrifuge's ``Node``).

It composes the parts the connections share — the channel registry, presence,
connection limits, the publish de-duplication window, the agent runs — with the
injected backends (history store, broker), and owns the publication path:
:meth:`Node.publish` stores a publication and hands it to the broker, which
calls :meth:`Node.deliver_local` on every node for the local fan-out. A
subscribe joins history and the live stream without gap or duplicate through
:meth:`Node.read_joining` and :meth:`Node.flush_held`. What one connection asks
for is decided in :mod:`.commands`; this module knows nothing of frames'
meaning beyond publications and run events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..agents import AgentRegistry
from ..backends.base import (
    Broker,
    DedupStore,
    DeliveryStore,
    HistoryRead,
    HistoryStore,
    PresenceStore,
    PublicationHandler,
)
from ..config import GatewayConfig
from ..protocol import CloseCode
from ..protocol.codec import encodable
from ..protocol.runs import RUN_FEED, TERMINAL_EVENTS, is_run_feed, run_event
from .auth import AuthenticateHook, Authenticator
from .channels import Channel, ChannelRegistry
from .client_ids import ClientIds
from .connection import Connection
from .dedup import DedupWindow
from .delivery import DeliveryTracker
from .handshake import greeting
from .ids import IdFactory
from .limits import ConnectionLimiter
from .metrics import HubMetrics
from .permissions import AuthorizeHook, ChannelPolicy
from .presence import Presence
from .presence_sync import RELAY_CHANNEL, PresenceSync
from .principal import Principal
from .run_manager import RunManager
from .scopes import display_name, scoped_run_channel

__all__ = ["Node", "ends_run"]

logger = logging.getLogger("praison_push.hub")


def ends_run(frame: dict[str, Any]) -> bool:
    """Whether ``frame`` carries a run's last event."""
    event = run_event(frame.get("data"))
    return event is not None and event[0] in TERMINAL_EVENTS


def _feed_run_channel(feed_name: str, frame: dict[str, Any]) -> str:
    """The internal run channel of a run event published on the feed ``feed_name``."""
    org = feed_name.partition("#")[2] or None
    data = frame.get("data")
    execution_id = data.get("execution_id") if isinstance(data, dict) else None
    return scoped_run_channel(str(execution_id), org)


class Node:
    """One gateway node's shared state and its publication path.

    Args:
        config: The gateway configuration.
        history: Per-channel history store.
        broker: Carries publications to every node (this one included).
        agents: The agents runs may use.
        clock: Wall-clock time source, injectable for tests.
        delivery: Where acknowledged delivery keeps pending deliveries; with
            ``None``, or ``DeliveryConfig(enabled=False)``, nothing is tracked.
        presence_store: Where the presence of every gateway is shared
            (``None``: this node's presence is its own).
        dedup: The publish de-duplication window (``None``: this node's own, in memory).

    Attributes:
        connections: Every open connection, by ``connection_id``.
        channels: Every channel with subscribers (or created explicitly) on this node.
        runs: The agent runs started on this node.
        tracker: Acknowledged delivery (``None`` when off: plain pub/sub).
        presence_sync: Presence shared with other gateways (``None``: not shared).
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        history: HistoryStore,
        broker: Broker,
        agents: AgentRegistry,
        clock: Callable[[], float],
        delivery: DeliveryStore | None = None,
        authenticate: AuthenticateHook | None = None,
        authorize: AuthorizeHook | None = None,
        presence_store: PresenceStore | None = None,
        dedup: DedupStore | None = None,
    ) -> None:
        self.config = config
        self.history = history
        self.broker = broker
        self.agents = agents
        self.clock = clock
        self.auth = Authenticator(config.auth, authenticate)
        self.permissions = ChannelPolicy(config.auth.channel_rules, authorize)
        self.metrics = HubMetrics()
        self.channels = ChannelRegistry(self.metrics)
        self.connections: dict[str, Connection] = {}
        self.ids = IdFactory()
        self.server_id = self.ids.prefix
        self.presence = Presence(config.push.presence, self.channels, self.ids, clock)
        self.limiter = ConnectionLimiter(config.limits)
        # A client_id stays its principal's as long as its pending deliveries may live.
        self.client_ids = ClientIds(ttl=config.push.delivery.message_ttl)
        self.dedup: DedupStore = dedup or DedupWindow(config.history.dedup_window)
        self.runs = RunManager(agents, self.publish_event, config=config.runs)
        self.runs.on_finished = self.metrics.run_finished
        # Which channels keep a full subscriber (the "drop" slow-consumer policy).
        self.channels.use_policies(config.limits.slow_consumer_policies)
        # Channel → buffers of connections whose subscribe is reading history (read_joining).
        self._joining: dict[str, list[list[dict[str, Any]]]] = {}
        push = config.push
        self.tracker: DeliveryTracker | None = None
        if delivery is not None and push.enabled and push.delivery.enabled:
            self.tracker = DeliveryTracker(
                push.delivery, delivery, clock=clock, publish=self.publish
            )
        self.presence_sync: PresenceSync | None = None
        if presence_store is not None and push.enabled and push.presence.enabled:
            self.presence_sync = PresenceSync(
                presence_store,
                self.server_id,
                push.presence,
                self.presence,
                self.channels,
                self.connections,
                broker.publish,
                clock,
            )
        # Tracking off: the fan-out is exactly the untracked one (no check per publication).
        handler: PublicationHandler = (
            self.deliver_local if self.tracker is None else self.deliver_tracked
        )
        if self.presence_sync is not None:
            handler = self._relaying(handler, self.presence_sync)
        broker.set_handler(handler)

    # --- connections ----------------------------------------------------------

    def open(
        self,
        *,
        client_id: str,
        principal: Principal,
        peer: str,
        dialect: str,
        dialect_fixed: bool,
        conversation_id: str | None,
        stable: bool = False,
        transport: str = "websocket",
    ) -> Connection:
        """Count and register a new connection.

        ``stable``: the client chose its ``client_id`` (it can come back for
        its pending deliveries), so its deliveries are tracked.

        Raises:
            LimitExceeded: a connection limit is reached.
        """
        self.limiter.acquire(peer, principal)
        limits = self.config.limits
        connection = Connection(
            self.ids.next(),
            client_id,
            principal=principal,
            peer=peer,
            now=self.clock(),
            max_frames=limits.send_queue_max_frames,
            max_bytes=limits.send_queue_max_bytes,
            dialect=dialect,
            dialect_fixed=dialect_fixed,
            conversation_id=conversation_id,
            transport=transport,
        )
        self.connections[connection.connection_id] = connection
        self.metrics.connections_opened += 1
        self.presence.touch(connection.client_id)
        if stable and self.tracker is not None:
            self.tracker.connected(connection)
        return connection

    def forget(self, connection: Connection) -> None:
        """Let go of a closed connection: leave its channels, announce, release limits."""
        if self.connections.pop(connection.connection_id, None) is None:
            return
        for name in list(connection.subscriptions):
            channel = self.channels.get(name)
            if channel is None:
                continue
            self.unsubscribe(channel, connection)
        self.presence.touch(connection.client_id)
        self.limiter.release(connection.peer, connection.principal)
        self.client_ids.release(connection.client_id, self.clock())
        if self.tracker is not None:
            self.tracker.disconnected(connection)
        if connection.close_code is None:
            connection.close(CloseCode.NORMAL)
        elif connection.close_code == CloseCode.SLOW_CONSUMER:
            self.metrics.slow_consumer_closes += 1

    def greet(self, connection: Connection, ref: Any = None) -> None:
        """Queue the greeting (``connected``, or the envelope's ``auth_success``)."""
        heartbeat = self.config.push.presence.heartbeat_interval
        for text in greeting(
            connection,
            server_id=self.server_id,
            heartbeat_interval=heartbeat,
            max_message_size=self.config.limits.max_message_size,
            ref=ref,
        ):
            connection.send_text(text)

    def is_open(self, connection: Connection) -> bool:
        """Whether ``connection`` is still registered (not yet forgotten)."""
        return self.connections.get(connection.connection_id) is connection

    def unsubscribe(self, channel: Channel, connection: Connection) -> None:
        """Take ``connection`` off ``channel``, announce its client's leave, drop it if unused."""
        if self.channels.unsubscribe(channel, connection):
            self.presence.announce(channel, "presence_leave", connection)
        self.channels.discard_if_unused(channel)

    def watch(self, connection: Connection, channel_name: str) -> None:
        """Subscribe ``connection`` to a run it just started (nothing to replay yet)."""
        channel = self.channels.create(channel_name, self.clock())
        self.channels.subscribe(channel, connection, None)

    # --- publications ---------------------------------------------------------

    async def publish(
        self,
        channel: str,
        data: Any,
        *,
        source: str | None = None,
        now: float | None = None,
        echo_to: Connection | None = None,
    ) -> dict[str, Any]:
        """Publish ``data`` on the internal ``channel`` (also used by the gateway itself).

        Frames name the channel as clients know it (an org scope suffix is
        dropped). The publisher's own connections are left out of the fan-out;
        ``echo_to`` gets a copy anyway when it is subscribed to ``channel``.
        Returns the ``channel.published`` receipt (without ``ref``).
        """
        shown = display_name(channel)
        message: dict[str, Any] = {
            "type": "channel_message",
            "channel": shown,
            "data": data,
            "event_id": self.ids.next(),
            "timestamp": self.clock() if now is None else now,
            "source": source,
        }
        self.metrics.publications += 1
        delivered = await self.broker.append_and_publish(self.history, channel, message)
        if echo_to is not None and channel in echo_to.subscriptions and echo_to.send(message):
            delivered += 1
        return {
            "type": "channel.published",
            "channel": shown,
            "delivered": delivered,
            "event_id": message["event_id"],
            "offset": message["offset"],
        }

    async def publish_event(self, channel: str, data: dict[str, Any]) -> Any:
        """Publish one run event (the run manager's publish).

        An agent's text could hold a lone surrogate: stored, it would break the
        run's delivery and history (issue 13), so it is replaced first.
        """
        return await self.publish(channel, encodable(data))

    def deliver_local(self, channel_name: str, frame: dict[str, Any]) -> int:
        """The broker's handler: fan ``frame`` out to this node's subscribers."""
        if self._joining:
            for held in self._joining.get(channel_name, ()):
                held.append(frame)
        channel = self.channels.get(channel_name)
        if channel is None:
            return 0
        skip = self._skip_for(channel_name, frame)
        delivered = channel.fan_out(frame, frame.get("source"), skip)
        self.metrics.deliveries += delivered
        if skip is not None and ends_run(frame):
            # The feed's copy of a run's last event comes after the run channel's
            # own (one broker, publish order): now the run's watchers have it.
            run = self.channels.get(_feed_run_channel(channel_name, frame))
            if run is not None:
                self.release_run(run)
        return delivered

    @staticmethod
    def _relaying(handler: PublicationHandler, sync: PresenceSync) -> PublicationHandler:
        """``handler``, but presence changes relayed by other gateways go to ``sync``."""

        def deliver(channel_name: str, frame: dict[str, Any]) -> int:
            if channel_name == RELAY_CHANNEL:
                return sync.receive(frame)
            return handler(channel_name, frame)

        return deliver

    def deliver_tracked(self, channel_name: str, frame: dict[str, Any]) -> int:
        """The broker's handler with acknowledged delivery on: fan out, then track."""
        delivered = self.deliver_local(channel_name, frame)
        channel = self.channels.get(channel_name)
        if channel is not None and self.tracker is not None:
            self.tracker.track(channel, frame)
        return delivered

    def release_run(self, channel: Channel) -> None:
        """A run ended: its watchers got the last event, so let go of them and the channel.

        Otherwise every run would stay a subscription of its requester (counted
        by ``max_subscriptions_per_connection``) and a channel (``max_channels``)
        forever. The run stays replayable from history.
        """
        for connection in list(channel.subscribers):
            self.channels.unsubscribe(channel, connection)
        self.channels.discard_if_unused(channel)

    @staticmethod
    def _skip_for(channel_name: str, frame: dict[str, Any]) -> Callable[[Connection], bool] | None:
        """Who must not get ``frame`` although subscribed (``None``: nobody)."""
        # startswith first: the hot path's one check for every other channel.
        if not channel_name.startswith(RUN_FEED) or not is_run_feed(channel_name):
            return None
        if not isinstance(frame.get("data"), dict):
            return None
        # A requester already watches its run's own channel: no second copy.
        run_channel = _feed_run_channel(channel_name, frame)

        def skip(connection: Connection) -> bool:
            return run_channel in connection.subscriptions

        return skip

    # --- joining a channel: history, then live, without gap or duplicate -----

    async def read_joining(
        self,
        name: str,
        connection: Connection,
        since: tuple[int, str] | None,
        limit: int | None,
    ) -> tuple[HistoryRead, list[dict[str, Any]]]:
        """Read history for a subscribe, holding the publications that arrive meanwhile.

        With memory backends the read never yields, so nothing is held. With
        Redis it does: a publication delivered during the read has not reached
        the not-yet-subscribed connection, and may or may not be in the read. It
        is held here (until the broker's :meth:`~Broker.sync` proves that
        nothing the read holds is still on its way), and :meth:`flush_held`
        sends the ones the read did not cover — no gap, no duplicate. A
        connection already subscribed receives them live, so nothing is held for it.
        """
        await self.broker.ready()  # publications from now on reach deliver_local
        if name in connection.subscriptions:
            return await self.history.read(name, since=since, limit=limit), []
        held: list[dict[str, Any]] = []
        buffers = self._joining.setdefault(name, [])
        buffers.append(held)
        try:
            read = await self.history.read(name, since=since, limit=limit)
            await self.broker.sync()  # what the read holds has reached deliver_local
        finally:
            # By identity: two joiners' buffers are often equal (both empty, or holding
            # the same publications), and removing the other's would stop holding for it.
            del buffers[next(i for i, buffer in enumerate(buffers) if buffer is held)]
            if not buffers:
                del self._joining[name]
        return read, held

    @property
    def joining(self) -> int:
        """Subscribes reading history right now (each holds live publications meanwhile)."""
        return sum(len(buffers) for buffers in self._joining.values())

    def flush_held(
        self,
        channel: Channel,
        connection: Connection,
        read: HistoryRead,
        held: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Send ``connection`` the held publications after ``read.offset``, as live ones are;
        return those sent."""
        solo = Channel(channel.name, channel.created_at)
        solo.subscribers[connection] = channel.subscribers[connection]
        sent: list[dict[str, Any]] = []
        for frame in held:
            offset = frame.get("offset")
            covered = isinstance(offset, int) and offset <= read.offset
            if covered and frame.get("epoch") == read.epoch:
                continue  # in the read (replayed, or before a live start)
            if solo.fan_out(frame, frame.get("source"), self._skip_for(channel.name, frame)):
                sent.append(frame)
        return sent

    # --- queries and whole-node actions ---------------------------------------

    def stats(self) -> dict[str, Any]:
        """What ``/health`` and a notebook show: connections, channels, runs, backend."""
        stats: dict[str, Any] = {
            "connections": len(self.connections),
            "channels": len(self.channels),
            "runs": len(self.runs),
            "backend": self.broker.name,
        }
        if self.tracker is not None:
            stats["delivery"] = {
                "store": self.tracker.store.name,
                "pending": self.tracker.pending,
            }
        return stats

    def resync(self) -> int:
        """Publications may have been missed (the broker reconnected): make clients recover.

        Subscribed connections are closed with 1001, so their clients reconnect,
        resubscribe with ``since`` and recover the gap from history (or learn
        ``recovered: false``) — never a silent gap (PROTOCOL.md §3). Returns how
        many connections were closed.
        """
        closed = 0
        for connection in list(self.connections.values()):
            if connection.subscriptions and not connection.closing:
                connection.close(CloseCode.GOING_AWAY, "missed publications while Redis was away")
                closed += 1
        if closed:
            logger.warning("closed %d subscribed connection(s) to resync after a gap", closed)
        return closed

    async def close(self) -> None:
        """Stop runs, close every connection (1001, clients reconnect elsewhere), release
        the backends (the broker's listener, the Redis pool)."""
        await self.runs.close()
        self.presence.close()
        for connection in list(self.connections.values()):
            connection.close(CloseCode.GOING_AWAY, "gateway shutting down")
        if self.presence_sync is not None:
            await self.presence_sync.close()
        await self.broker.close()
        await self.dedup.close()
        await self.history.close()
