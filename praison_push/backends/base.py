"""The interfaces the hub talks to; each has a memory and a Redis implementation.

Like centrifuge's Broker/PresenceManager, each interface states its guarantees
here, and one contract test suite checks every implementation against them.

Presence is per gateway for now: ``presence.query`` lists the clients of the
gateway it is asked on (the hub keeps presence itself, not behind an interface).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "MIN_META_TTL",
    "BackendUnavailableError",
    "Broker",
    "HistoryRead",
    "HistoryStore",
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
