"""The interfaces the hub talks to; each has a memory and a Redis implementation.

Like centrifuge's Broker/PresenceManager, each interface states its guarantees
here, and one contract test suite checks every implementation against them.
:class:`DeliveryStore` (acknowledged delivery) has a third, SQLite: the
embedded durable store.

:class:`PresenceStore` holds every gateway's presence entries, so
``presence.query`` on any gateway lists the clients of all of them;
:class:`DedupStore` holds the publish de-duplication window, so a publish
re-sent to another gateway (or after a restart) is published once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

__all__ = [
    "MIN_META_TTL",
    "BackendUnavailableError",
    "Broker",
    "DedupStore",
    "DeliveriesRecorded",
    "DeliveriesSettled",
    "DeliveryChange",
    "DeliveryRescheduled",
    "DeliveryStore",
    "HistoryRead",
    "HistoryStore",
    "PendingDelivery",
    "PresenceStore",
    "PublicationHandler",
    "ReconnectHandler",
]

#: Called on every node for every publication: ``(channel, frame) -> local deliveries``.
PublicationHandler = Callable[[str, dict[str, Any]], int]

#: Called (on the node's loop) when a broker got its connection back after losing it.
ReconnectHandler = Callable[[], object]

#: How long a channel's epoch and offset counter outlive its last append, at least
#: (every history store keeps positions at least this long, seconds).
MIN_META_TTL = 86_400.0


class BackendUnavailableError(ConnectionError):
    """A backend cannot be reached right now (Redis down); the request may be retried.

    Raised instead of the driver's own exceptions so the hub can answer the
    client with an ``error`` frame and log one line, without knowing Redis.
    """


@dataclass(frozen=True)
class HistoryRead:
    """What a history read returns.

    Attributes:
        messages: ``channel_message`` frames after the requested offset, oldest first.
        offset: The channel's latest offset (0 when nothing was ever published).
        epoch: The channel's current epoch.
        recovered: ``False`` when the requested position is no longer covered by
            history (wrong epoch, or entries expired): the reader has a gap.
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    epoch: str = ""
    recovered: bool = True


@runtime_checkable
class HistoryStore(Protocol):
    """Per-channel ordered history (PROTOCOL.md §3).

    Guarantees: offsets within an epoch start at 1 and grow by exactly one per
    append, with no reuse; the epoch changes whenever history may have been
    lost, so ``(epoch, offset)`` never names two different messages.
    """

    async def append(self, channel: str, frame: dict[str, Any]) -> tuple[int, str]:
        """Store ``frame`` (a ``channel_message`` lacking ``offset``/``epoch``).

        Sets ``frame["offset"]`` and ``frame["epoch"]`` and returns them.
        """
        ...

    async def read(
        self,
        channel: str,
        *,
        since: tuple[int, str] | None = None,
        limit: int | None = None,
    ) -> HistoryRead:
        """Messages after ``since = (offset, epoch)`` (all kept ones when ``None``).

        With ``limit`` the newest ``limit`` of them are returned when reading
        without ``since``, and the oldest ``limit`` when reading after ``since``.
        """
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


@runtime_checkable
class Broker(Protocol):
    """Carries publications to every gateway node.

    Guarantees:

    * Each publication reaches the handler of every node that is
      :meth:`ready` (this one included) once, while its connection holds.
    * For one channel, every node's handler sees publications in the order
      they were published through this broker. With :meth:`append_and_publish`
      on a store sharing the broker's server (Redis), that order *is* offset
      order on every node, whichever node published; with a separate store it
      is per publishing node.
    * ``publish`` returns the deliveries made *on this node* (the
      ``delivered`` of a receipt); it does not count other gateways'.
    * A broker that lost its connection says so by raising
      :class:`BackendUnavailableError` from :meth:`ready`, and keeps trying to
      reconnect on its own. Once it is back it calls :attr:`on_reconnect`:
      publications made while it was away never reached this node, so the
      composition root sets it to make clients recover from history. A broker
      that never loses a connection (memory) never calls it.

    Attributes:
        name: The backend's name, as ``/health`` reports it (``memory``, ``redis``).
        on_reconnect: Called after a lost connection came back (``None``: nobody to tell).
    """

    name: str
    on_reconnect: ReconnectHandler | None

    def set_handler(self, handler: PublicationHandler) -> None:
        """Install the node's local fan-out, called once per publication."""
        ...

    async def ready(self) -> None:
        """Return once every later publication will reach this node's handler.

        The hub awaits it before reading history for a subscribe, so the
        replay and the live stream meet without a gap. Cheap once ready.
        """
        ...

    async def sync(self) -> None:
        """Return once every publication made before the call has reached this node's handler.

        The hub awaits it after reading history for a subscribe: a publication
        the read already contains may still be on its way to this node, and
        must be recognised as a duplicate rather than delivered live after the
        replay. Immediate when publications are delivered synchronously.
        """
        ...

    async def publish(self, channel: str, frame: dict[str, Any]) -> int:
        """Send ``frame`` to every node; return the deliveries made on this node."""
        ...

    async def append_and_publish(
        self, history: HistoryStore, channel: str, frame: dict[str, Any]
    ) -> int:
        """``history.append`` then :meth:`publish`, atomically where the backends allow.

        Sets ``frame["offset"]``/``frame["epoch"]`` as :meth:`HistoryStore.append`
        does and returns this node's deliveries.
        """
        ...

    async def close(self) -> None:
        """Release resources (idempotent); the handler is no longer called."""
        ...


# --- acknowledged delivery (PROTOCOL.md §3) -----------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveriesRecorded:
    """One publication delivered to clients that must acknowledge it.

    Attributes:
        event_id: The publication's ``event_id``.
        channel: The internal channel it was published on.
        frame: The ``channel_message`` as delivered (``offset``/``epoch`` included).
        recorded_at: When it was delivered (wall clock, seconds).
        expires: When its deliveries are dropped unacknowledged (``message_ttl`` later).
        due: When the first redelivery is due (``ack_timeout`` later).
        client_ids: The clients it was delivered to, each a pending delivery
            with ``retries`` 0.
    """

    event_id: str
    channel: str
    frame: dict[str, Any]
    recorded_at: float
    expires: float
    due: float
    client_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class DeliveriesSettled:
    """A client's deliveries that need no more tracking (acknowledged, or unsubscribed)."""

    client_id: str
    event_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class DeliveryRescheduled:
    """A pending delivery was sent again (or its client came back): new count and due time."""

    client_id: str
    event_id: str
    retries: int
    due: float


#: One change :meth:`DeliveryStore.write` applies.
DeliveryChange = Union[DeliveriesRecorded, DeliveriesSettled, DeliveryRescheduled]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """A delivery awaiting its acknowledgement, as a store hands it back.

    Attributes:
        client_id: Who must acknowledge it.
        event_id: The publication's ``event_id``.
        channel: The internal channel.
        frame: The ``channel_message`` as first delivered.
        recorded_at: When it was first delivered.
        expires: When it is dropped unacknowledged (then dead-lettered).
        retries: How many times it was redelivered for want of an acknowledgement.
        due: When the next redelivery (or, past ``max_retries``, the dead letter) is due.
    """

    client_id: str
    event_id: str
    channel: str
    frame: dict[str, Any]
    recorded_at: float
    expires: float
    retries: int
    due: float


@runtime_checkable
class DeliveryStore(Protocol):
    """Where pending deliveries live between delivery and acknowledgement (PROTOCOL.md §3).

    The hub keeps the deliveries of the clients connected to it in memory and
    writes every change here behind the fan-out, in order, in batches (the
    fan-out never waits for a store). It reads a client's deliveries back when
    the client attaches (connects and subscribes or acknowledges), so pending
    deliveries follow the client across reconnects, to another gateway sharing
    the store (:attr:`shared`), and across a gateway restart when the store
    keeps them (:attr:`durable`).

    Guarantees:

    * :meth:`write` applies its changes in order. Recording a delivery that is
      pending already changes nothing (its ``retries`` and ``due`` stay);
      settling or rescheduling one that is not pending changes nothing (a late
      change never brings a settled delivery back).
    * A publication's frame is kept while any of its deliveries is pending, and
      no longer.
    * :meth:`take` and :meth:`expire` remove what they return, atomically: of
      several callers (several gateways) racing for one delivery, exactly one
      gets it. That makes a dead letter published once.

    Attributes:
        name: ``memory``, ``sqlite`` or ``redis``.
        durable: Pending deliveries survive a restart of the gateway process.
        shared: Several gateways may use the store at once.
    """

    name: str
    durable: bool
    shared: bool

    async def write(self, changes: Sequence[DeliveryChange]) -> None:
        """Apply ``changes`` in order (atomically where the backend allows).

        Raises:
            BackendUnavailableError: The store cannot be reached; nothing or all was applied.
        """
        ...

    async def load(self, client_id: str) -> list[PendingDelivery]:
        """Every delivery pending for ``client_id`` (in no particular order)."""
        ...

    async def take(self, client_id: str, event_ids: Sequence[str]) -> list[PendingDelivery]:
        """Remove and return those of ``client_id``'s deliveries ``event_ids`` that are pending."""
        ...

    async def expire(self, now: float, limit: int) -> list[PendingDelivery]:
        """Remove and return at most ``limit`` pending deliveries whose ``expires <= now``,
        soonest expiring first."""
        ...

    async def close(self) -> None:
        """Release resources (idempotent)."""
        ...


# --- presence across gateways (PROTOCOL.md §2) ---------------------------------------


@runtime_checkable
class PresenceStore(Protocol):
    """Every gateway's presence entries, so any gateway can list all clients.

    Each gateway (node) writes the entries of its own clients, keyed by
    ``client_id``, and says until when they hold (``expires``); it refreshes
    them every half heartbeat. A node that stops refreshing (killed, or cut
    off) is dead once ``expires`` passes: :meth:`read` no longer lists its
    clients, and one gateway :meth:`reap`-s it to tell co-subscribers they left.

    Entries are JSON objects (``PresenceInfo`` plus ``org_id`` and ``subs``,
    the internal channel names, for filtering); the store keeps them as given.

    Guarantees:

    * :meth:`write` applies atomically: readers see all of it or none.
    * :meth:`read` lists the entries of nodes whose ``expires`` is after ``now``.
    * :meth:`reap` removes and returns the nodes whose ``expires <= now``;
      of several gateways racing, exactly one gets each node.

    Attributes:
        name: ``memory`` or ``redis``.
        shared: Several gateways may use the store at once.
    """

    name: str
    shared: bool

    async def write(
        self,
        node_id: str,
        entries: Mapping[str, dict[str, Any]],
        removed: Sequence[str],
        *,
        expires: float,
        replace: bool = False,
    ) -> None:
        """Store ``node_id``'s ``entries`` (by ``client_id``), drop its ``removed`` ones.

        The node and its entries hold until ``expires``. With ``replace`` the
        node's entries become exactly ``entries``.

        Raises:
            BackendUnavailableError: The store cannot be reached.
        """
        ...

    async def read(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """The entries of every node alive at ``now``, by node id."""
        ...

    async def reap(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """Remove and return the entries of the nodes dead at ``now``, by node id."""
        ...

    async def remove_node(self, node_id: str) -> None:
        """Forget ``node_id`` and its entries (a gateway stopping cleanly)."""
        ...

    async def close(self) -> None:
        """Release resources (idempotent; a shared Redis client stays open)."""
        ...


# --- idempotent publish (PROTOCOL.md §3: ``id``) -------------------------------------


@runtime_checkable
class DedupStore(Protocol):
    """The publish de-duplication window: which ``(channel, key)`` was published, and its
    receipt.

    A publish with an ``id`` first :meth:`claim`-s its key; only the claimer
    publishes, then :meth:`remember`-s the receipt, which later claimers get
    back. A claim that is never completed (the gateway died mid-publish) lapses
    after ``claim_ttl``, so the publisher's retry publishes then.

    Guarantees:

    * Of several claims of one key within the window (any gateways, any
      restarts of a shared or durable store), exactly one returns ``None``.
    * A remembered receipt is returned by every later claim until ``window``
      seconds after it was remembered.

    Attributes:
        name: ``memory``, ``sqlite`` or ``redis``.
        shared: The window is seen by every gateway using the store (or
            survives a restart): the de-duplication holds across them.
    """

    name: str
    shared: bool

    async def claim(
        self, channel: str, key: str, *, now: float, claim_ttl: float
    ) -> dict[str, Any] | None:
        """Claim ``key``: ``None`` when this caller must publish, else the earlier receipt
        (``{}`` while the earlier publish is still in progress).

        Raises:
            BackendUnavailableError: The store cannot be reached.
        """
        ...

    async def remember(
        self, channel: str, key: str, receipt: dict[str, Any], *, now: float, window: float
    ) -> None:
        """Keep the receipt of the claimed publish for ``window`` seconds."""
        ...

    async def release(self, channel: str, key: str) -> None:
        """Give a claim up (the publish failed): the next claim publishes."""
        ...

    async def close(self) -> None:
        """Release resources (idempotent)."""
        ...
