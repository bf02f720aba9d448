"""The interfaces the hub talks to; each has a memory and (later) a Redis implementation.

Like centrifuge's Broker/PresenceManager, each interface states its guarantees
here, and one contract test suite checks every implementation against them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Broker",
    "HistoryRead",
    "HistoryStore",
    "PublicationHandler",
]

#: Called on every node for every publication: ``(channel, frame) -> local deliveries``.
PublicationHandler = Callable[[str, dict[str, Any]], int]


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

    Guarantees: for one channel, every node's handler sees publications in
    the order they were published through this broker.
    """

    def set_handler(self, handler: PublicationHandler) -> None:
        """Install the node's local fan-out, called once per publication."""
        ...

    async def publish(self, channel: str, frame: dict[str, Any]) -> int:
        """Send ``frame`` to every node; return the deliveries made on this node."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...
