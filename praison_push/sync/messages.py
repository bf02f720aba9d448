"""Messages as the blocking face hands them out: ``msg.ack()`` blocks instead of awaiting.

The message is the async client's :class:`~praison_push.client.ChannelMessage`
(same fields, same display); only acknowledging differs, and it goes through
the blocking client, which ships the async client's ``ack``/``nack`` to the
portal loop — one core, two faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from praison_push.client import ChannelMessage, PushError

__all__ = ["BlockingAcknowledger", "SyncChannelMessage"]


class BlockingAcknowledger(Protocol):
    """The blocking client, as its messages see it."""

    def ack(self, message: ChannelMessage | str) -> bool: ...

    def nack(self, message: ChannelMessage | str, reason: str = "") -> bool: ...


@dataclass(frozen=True)
class SyncChannelMessage(ChannelMessage):
    """A :class:`~praison_push.client.ChannelMessage` whose ``ack()``/``nack()`` block."""

    _client: BlockingAcknowledger | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, message: ChannelMessage, client: BlockingAcknowledger) -> SyncChannelMessage:
        """``message`` as the blocking ``client`` hands it out."""
        if isinstance(message, SyncChannelMessage):
            return message
        values = {f.name: getattr(message, f.name) for f in fields(ChannelMessage)}
        return cls(**values, _client=client)

    # The blocking face blocks where the async one awaits (the override is the point).
    def ack(self) -> bool:  # type: ignore[override]
        """Acknowledge this message now, so the gateway stops redelivering it.

        For clients made with ``auto_ack=False``; others acknowledge each
        message once its callbacks returned without raising. Returns whether
        the gateway was tracking the delivery.

        Raises:
            PushError: The message did not come from a client.
        """
        return self._blocking().ack(self)

    def nack(self, reason: str = "") -> bool:  # type: ignore[override]
        """Give up on this message: the gateway moves it to ``$dead-letter`` now.

        Returns whether the gateway was tracking the delivery.

        Raises:
            PushError: The message did not come from a client.
        """
        return self._blocking().nack(self, reason)

    def _blocking(self) -> BlockingAcknowledger:
        if self._client is None:
            raise PushError("this message was not received by a client: nothing to acknowledge")
        return self._client


def blocking(value: Any, client: BlockingAcknowledger) -> Any:
    """``value`` as the blocking face hands it to user code (messages made blocking)."""
    return SyncChannelMessage.of(value, client) if isinstance(value, ChannelMessage) else value
