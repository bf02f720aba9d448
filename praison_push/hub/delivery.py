"""Acknowledged delivery: each live delivery tracked until its client acknowledges it.

What is tracked (PROTOCOL.md §3, §8 "Acknowledged delivery"): every delivery
to a client subscribed on this node that connected with a ``client_id`` of its
own (a *stable* client; a gateway-assigned id could never come back for its
deliveries) — a publication's live fan-out, and what a subscribe replays or
held. Run channels, run feeds and gateway channels (``$…``) are never
tracked; ``DeliveryConfig.channels`` narrows tracking to matching channels.

How it stays off the fan-out's back:

* The hot path (:meth:`DeliveryTracker.track`) makes one record per
  publication and adds it to each recipient's pending dict — no await, no I/O.
* Changes go to a journal that one writer task applies to the
  :class:`~praison_push.backends.base.DeliveryStore` in order and in batches
  (all of them for a durable or shared store; for the memory store only the
  deliveries of clients that left); reads (a client's pending deliveries, a
  dead letter's exclusive take) go through the same journal, so they see every
  change made before them.
* One timer task redelivers what is due, dead-letters what ran out of
  retries, and sweeps the store for expired deliveries.

The working set holds the clients connected to this node; a client that
attaches (subscribes or acknowledges) gets its pending deliveries read back
from the store, so they follow it across reconnects — to another gateway
with a shared store, and across restarts with a durable one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence, Set
from typing import Any

from ..backends.base import DeliveriesSettled, DeliveryRescheduled, DeliveryStore
from ..config import DeliveryConfig
from .channels import Channel, matches_filters
from .connection import Connection
from .dead_letters import DeadLetters, Publish
from .delivery_journal import Journal
from .delivery_records import (
    Burial,
    ClientDeliveries,
    Position,
    Retry,
    RetryQueue,
    Tracked,
    TrackedChannels,
    in_order,
    parked,
    parts,
    replays,
    restored,
)

__all__ = ["DeliveryTracker"]

logger = logging.getLogger("praison_push.hub")


class DeliveryTracker:
    """Tracks deliveries until acknowledged, redelivers, dead-letters (PROTOCOL.md §3).

    Args:
        config: Timeouts, retries, TTL, channel patterns, per-client bound.
        store: Where pending deliveries are kept between attach and detach.
        clock: Wall-clock time (deliveries outlive the process in durable stores).
        publish: Publishes a dead letter on the node.
    """

    def __init__(
        self,
        config: DeliveryConfig,
        store: DeliveryStore,
        *,
        clock: Callable[[], float],
        publish: Publish,
    ) -> None:
        self.config = config
        self.store = store
        #: A durable or shared store gets every change, behind the fan-out; one that
        #: neither outlives the process nor is shared (memory) only needs what this
        #: node lets go of — the deliveries of clients that left — and hands them
        #: back when the client attaches again. The node's memory is the record.
        self.write_through = store.durable or store.shared
        self._clock = clock
        self._ack_timeout = config.ack_timeout
        #: A first attempt falls due after ack_timeout, or at expiry if that comes first.
        self._first_wait = min(config.ack_timeout, config.message_ttl)
        self._backoff = config.retry_backoff
        self._ttl = config.message_ttl
        self._max_pending = config.max_pending_per_client
        self._channels = TrackedChannels(config.channels)
        self._clients: dict[str, ClientDeliveries] = {}
        self._retries = RetryQueue(self._clients)
        self._burials: list[Burial] = []
        self._journal = Journal(store)
        self._dead = DeadLetters(self._journal, publish)
        self._timer: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._next_sweep = 0.0
        self._closed = False

    def __repr__(self) -> str:
        return f"<DeliveryTracker store={self.store.name} clients={len(self._clients)}>"

    @property
    def pending(self) -> int:
        """Deliveries pending for the clients connected to this node."""
        return sum(len(client) for client in self._clients.values())

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer and the timer on the running loop (idempotent)."""
        if self._closed:
            return
        self._journal.start()
        if self._timer is None or self._timer.done():
            self._wake = asyncio.Event()
            self._timer = asyncio.get_running_loop().create_task(
                self._run_timers(), name="praison-push-delivery-timers"
            )

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the timers, write what is queued (at most ``timeout`` s), close the store."""
        self._closed = True
        self._clients.clear()
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        await self._journal.close(timeout)
        await self.store.close()

    async def flush(self) -> None:
        """Return once every change made so far is in the store."""
        await self._journal.read(_nothing)

    # --- which channels --------------------------------------------------------------

    def tracks(self, channel: str) -> bool:
        """Whether deliveries on the internal ``channel`` are tracked."""
        return self._channels.tracks(channel)

    # --- connections -----------------------------------------------------------------

    def connected(self, connection: Connection) -> None:
        """A connection of a stable client opened on this node."""
        client = self._clients.get(connection.client_id)
        if client is None:
            client = self._clients[connection.client_id] = ClientDeliveries(connection.client_id)
        client.connections.append(connection)

    def disconnected(self, connection: Connection) -> None:
        """A connection closed; the client's last one detaches it (its deliveries stay stored)."""
        client = self._clients.get(connection.client_id)
        if client is None or connection not in client.connections:
            return
        client.connections.remove(connection)
        if not client.connections:
            del self._clients[connection.client_id]
            if not self.write_through:
                self._park(client)

    def _park(self, client: ClientDeliveries) -> None:
        """The client left: keep its pending deliveries in the store until it attaches."""
        for change in parked(client):
            self._journal.change(change)

    async def attach(self, connection: Connection) -> None:
        """Read the client's pending deliveries back from the store (once per attach).

        Called before a subscribe or an acknowledgement is handled. A store that
        cannot be read is logged; the client is then served from what this node
        holds, and the stored deliveries wait for its next attach.
        """
        client = self._clients.get(connection.client_id)
        if client is None or client.loaded:
            return
        if client.loading is None:
            client.removed = set()
            client.loading = asyncio.ensure_future(self._load(client))
        await asyncio.shield(client.loading)

    async def _load(self, client: ClientDeliveries) -> None:
        try:
            stored = await self._journal.read(lambda store: store.load(client.client_id))
        except Exception as exc:
            logger.warning("could not read pending deliveries of %s: %s", client.client_id, exc)
            stored = []
        if stored and not self.write_through:
            # Claimed: the node holds them now (and parks them again if the client leaves).
            claimed = [delivery.event_id for delivery in stored]
            self._journal.change(DeliveriesSettled(client.client_id, claimed))
        removed = client.removed or set()
        # Back from the store, a delivery waits a full ack_timeout × backoff^n again:
        # its time ran out while the client was away, which is not its failure.
        now = self._clock()
        for delivery in stored:
            if client.holds(delivery.event_id) or delivery.event_id in removed:
                continue
            self._schedule(client, delivery.event_id, restored(delivery), delivery.retries, now)
        client.removed = None
        client.loaded = True

    # --- the hot path ----------------------------------------------------------------

    def track(self, channel: Channel, frame: dict[str, Any]) -> None:
        """Record ``frame``'s live delivery to ``channel``'s stable subscribers.

        Called right after the fan-out, with the same subscribers; never awaits.
        """
        clients = self._clients
        if not clients or not self._channels.tracks(channel.name):
            return
        source = frame.get("source")
        data = frame.get("data")
        event_id: str = frame["event_id"]
        message: Tracked | None = None
        # Who got it: only a store that gets every change needs the list.
        recipients: list[str] | None = [] if self.write_through else None
        limit = self._max_pending
        find = clients.get
        for connection, filters in channel.subscribers.items():
            client_id = connection.client_id
            client = find(client_id)
            if client is None or client_id == source:
                continue
            if filters is not None and not matches_filters(filters, data):
                continue
            first = client.first
            if event_id in first:
                continue  # another connection of the same client
            if message is None:
                now = self._clock()
                message = Tracked(
                    event_id, channel.name, frame, now, now + self._ttl, now + self._first_wait
                )
            first[event_id] = message
            if recipients is not None:
                recipients.append(client_id)
            if len(first) >= limit and len(first) + len(client.later) > limit:
                self._overflow(client)
        if message is not None and recipients is not None:
            message.clients = recipients
            self._journal.record(message)

    def _overflow(self, client: ClientDeliveries) -> None:
        """Past ``max_pending_per_client``: the oldest delivery goes to ``$dead-letter``."""
        oldest = client.later if client.later else client.first
        event_id = next(iter(oldest))
        entry = client.pop(event_id)
        if entry is not None:
            message, retries = parts(entry)
            self._bury(Burial(client.client_id, event_id, message, "overflow", retries))

    # --- the client's side -----------------------------------------------------------

    def resume(
        self, connection: Connection, channel: str, carried: Set[str], after: Position | None = None
    ) -> int:
        """Send ``connection`` its client's pending deliveries on ``channel``, in order.

        Called as a subscription starts, before its history replay and live
        traffic. A pending delivery the replay carries (``carried``: its event
        ids) is not sent twice: the replay's copy is its redelivery, so the
        client gets the channel in order whatever the pending set looks like.
        A resumed delivery is marked ``_redelivered`` with its current
        ``_retry_count`` (a reconnect is not the client's failure to
        acknowledge); either way it waits a full ``ack_timeout ×
        retry_backoff^n`` again. A replay in pages carries everything ``after``
        a position instead (:mod:`.replay`). Returns how many were sent.
        """
        client = self._clients.get(connection.client_id)
        if client is None or not len(client):
            return 0
        now = self._clock()
        sent = 0
        for event_id, entry in in_order(client.on_channel(channel)):
            message, retries = parts(entry)
            if event_id not in carried and not replays(message.frame, after):
                connection.send({**message.frame, "_redelivered": True, "_retry_count": retries})
                sent += 1
            self._schedule(client, event_id, message, retries, now)
            if self.write_through:
                due = self._wait(now, retries, message.expires)
                self._journal.change(DeliveryRescheduled(client.client_id, event_id, retries, due))
        return sent

    def replayed(
        self, connection: Connection, channel: str, frames: Sequence[dict[str, Any]]
    ) -> None:
        """Track what a subscribe replayed (or held and sent) to ``connection``: deliveries too.

        Otherwise a replay sent over a connection that then dropped would be
        lost to a client that comes back as a new process. Up to
        ``max_pending_per_client`` only: a replay is recoverable by position,
        so a long one is never a reason to dead-letter anything.
        """
        client = self._clients.get(connection.client_id)
        if client is None or not frames or not self.tracks(channel):
            return
        for frame in frames:
            if len(client) >= self._max_pending:
                return
            event_id = frame.get("event_id")
            if not isinstance(event_id, str) or not event_id or client.holds(event_id):
                continue
            now = self._clock()
            message = Tracked(
                event_id, channel, frame, now, now + self._ttl, now + self._first_wait
            )
            message.clients = [client.client_id]
            client.first[event_id] = message
            if self.write_through:
                self._journal.record(message)

    def unsubscribed(self, connection: Connection, channel: str) -> None:
        """An explicit unsubscribe: the client no longer wants ``channel``'s pending deliveries.

        Kept while another connection of the client on this node still holds
        the subscription.
        """
        client = self._clients.get(connection.client_id)
        if client is None or any(channel in c.subscriptions for c in client.connections):
            return
        dropped = [event_id for event_id, _ in client.on_channel(channel)]
        for event_id in dropped:
            client.pop(event_id)
        if dropped and self.write_through:
            self._journal.change(DeliveriesSettled(client.client_id, dropped))

    async def settle(self, connection: Connection, event_ids: Sequence[str]) -> list[str]:
        """``message_ack``: stop tracking these deliveries; return the ids that were not pending.

        Unknown ids are those never delivered to this client, acknowledged
        already, or dead-lettered. With a shared store, an id this node does
        not hold is looked for there (another gateway delivered it).
        """
        client = self._clients.get(connection.client_id)
        if client is None:
            return list(event_ids)
        if not client.loaded:
            await self.attach(connection)
        unknown: list[str] = []
        settled: list[str] = []
        first, later, removed = client.first, client.later, client.removed
        for event_id in event_ids:  # ClientDeliveries.pop, inlined: this runs per ack
            if first.pop(event_id, None) is None and later.pop(event_id, None) is None:
                unknown.append(event_id)
            else:
                settled.append(event_id)
            if removed is not None:
                removed.add(event_id)
        if settled and self.write_through:
            self._journal.change(DeliveriesSettled(client.client_id, settled))
        if unknown and self.store.shared:
            cid = client.client_id
            found = await self._journal.read(lambda store: store.take(cid, list(unknown)))
            taken = {delivery.event_id for delivery in found}
            unknown = [event_id for event_id in unknown if event_id not in taken]
        return unknown

    async def reject(self, connection: Connection, event_id: str, reason: str | None) -> bool:
        """``message_nack``: dead-letter the delivery now; ``False`` if it was not pending."""
        client = self._clients.get(connection.client_id)
        if client is None:
            return False
        await self.attach(connection)
        reason = reason or "nack"
        entry = client.pop(event_id)
        if entry is None:
            shared = self.store.shared
            return shared and await self._dead.take_remote(client.client_id, event_id, reason)
        message, retries = parts(entry)
        burial = Burial(client.client_id, event_id, message, reason, retries)
        return await self._dead.bury([burial], exclusive=self.write_through)

    # --- bookkeeping -------------------------------------------------------------------

    def _wait(self, now: float, retries: int, expires: float) -> float:
        """When a delivery redelivered ``retries`` times falls due: ``ack_timeout ×
        retry_backoff^retries`` after ``now``, or at its expiry if that comes first."""
        return min(now + self._ack_timeout * self._backoff**retries, expires)

    def _schedule(
        self,
        client: ClientDeliveries,
        event_id: str,
        message: Tracked,
        retries: int,
        now: float,
    ) -> None:
        """Make ``event_id`` a retry entry of ``client``, due ``ack_timeout × backoff^retries``
        after ``now``."""
        due = self._wait(now, retries, message.expires)
        entry = Retry(message, retries, due)
        client.first.pop(event_id, None)
        client.later[event_id] = entry
        self._retries.push(due, client.client_id, event_id, entry)
        self._kick()

    def _bury(self, burial: Burial) -> None:
        self._burials.append(burial)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # --- timers ----------------------------------------------------------------------

    def tick_interval(self) -> float:
        """Seconds between timer passes: a quarter of ``ack_timeout``, between 0.01 and 1."""
        return max(0.01, min(1.0, self._ack_timeout / 4, self._ttl / 4))

    async def _run_timers(self) -> None:
        interval = self.tick_interval()
        wake = self._wake
        assert wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), interval)
            wake.clear()
            try:
                await self.run_due(self._clock())
            except Exception:
                logger.exception("delivery timers failed")

    async def run_due(self, now: float) -> None:
        """One timer pass at ``now``: redeliver, dead-letter, sweep expired deliveries."""
        self._first_attempts(now)
        self._later_attempts(now)
        if self._burials:
            burials, self._burials = self._burials, []
            await self._dead.bury(burials, exclusive=self.write_through)
        if now >= self._next_sweep:
            self._next_sweep = now + self.tick_interval()
            await self._dead.sweep(now, self._forget)

    def _forget(self, client_id: str, event_id: str) -> tuple[Tracked, int] | None:
        """The sweep expired a delivery: drop it here too (its record, if held)."""
        client = self._clients.get(client_id)
        entry = None if client is None else client.pop(event_id)
        return None if entry is None else parts(entry)

    def _first_attempts(self, now: float) -> None:
        """First attempts fall due in delivery order: read each client's from the front."""
        for client in list(self._clients.values()):
            first = client.first
            while first:
                event_id, message = next(iter(first.items()))
                if message.due > now:
                    break
                self._attempt(client, event_id, message, 0, now)

    def _later_attempts(self, now: float) -> None:
        for client, event_id, entry in self._retries.due(now):
            self._attempt(client, event_id, entry.message, entry.retries, now)

    def _attempt(
        self, client: ClientDeliveries, event_id: str, message: Tracked, retries: int, now: float
    ) -> None:
        """A delivery's wait is over: redeliver it, or dead-letter it."""
        if now >= message.expires or retries >= self.config.max_retries:
            reason = "expired" if now >= message.expires else "max_retries"
            client.pop(event_id)
            self._bury(Burial(client.client_id, event_id, message, reason, retries))
            return
        targets = [
            c for c in client.connections if message.channel in c.subscriptions and not c.closing
        ]
        if not targets:
            # Not subscribed right now (reconnecting): its resubscribe resumes it.
            self._schedule(client, event_id, message, retries, now)
            return
        retries += 1
        frame = {**message.frame, "_redelivered": True, "_retry_count": retries}
        for connection in targets:
            connection.send(frame)
        self._schedule(client, event_id, message, retries, now)
        if self.write_through:
            due = self._wait(now, retries, message.expires)
            self._journal.change(DeliveryRescheduled(client.client_id, event_id, retries, due))


async def _nothing(store: DeliveryStore) -> None:
    """A journal read that reads nothing: a barrier."""
