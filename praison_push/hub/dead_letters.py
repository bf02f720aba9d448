"""Dead letters: deliveries given up on, published on ``$dead-letter`` once.

A delivery is given up on after ``max_retries`` redeliveries, after
``message_ttl``, past ``max_pending_per_client``, or at once on
``message_nack``. Its dead letter carries ``{channel, message, client_id,
reason, retries}`` (``message`` is the original ``channel_message``;
PROTOCOL.md §3). Before publishing, the delivery is taken from the store —
atomically, so when gateways race (or an acknowledgement does) exactly one
of them publishes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .delivery_journal import Journal
from .delivery_records import Burial, Tracked, dead_letter_channel, restored
from .scopes import display_name

__all__ = ["EXPIRE_BATCH", "DeadLetters", "Publish"]

logger = logging.getLogger("praison_push.hub")

#: Most expired deliveries read from the store per sweep step.
EXPIRE_BATCH = 1_000

#: Publishes on the node: ``(internal channel, data) -> receipt``.
Publish = Callable[[str, Any], Awaitable[Any]]

#: Called for each delivery the sweep expired: ``(client_id, event_id)`` →
#: the in-memory record and its redelivery count, if this node held it.
Forget = Callable[[str, str], "tuple[Tracked, int] | None"]


class DeadLetters:
    """Takes given-up deliveries from the store and publishes their dead letters.

    Args:
        journal: The tracker's ordered access to its store.
        publish: Publishes on the node.
    """

    def __init__(self, journal: Journal, publish: Publish) -> None:
        self._journal = journal
        self._publish = publish

    async def bury(self, burials: list[Burial], *, exclusive: bool = True) -> bool:
        """Take ``burials`` from the store and publish those it still held.

        Returns whether any was published. One the store no longer holds was
        settled elsewhere (another gateway, a racing acknowledgement): no dead
        letter. Without ``exclusive`` the node's own record is the authority (a
        store that only keeps what the node let go of): all are published.
        """
        if not exclusive:
            for burial in burials:
                await self.publish(burial.client_id, burial.message, burial.reason, burial.retries)
            return bool(burials)
        by_client: dict[str, list[Burial]] = {}
        for burial in burials:
            by_client.setdefault(burial.client_id, []).append(burial)
        published = False
        for client_id, group in by_client.items():
            ids = [burial.event_id for burial in group]
            taken = await self._journal.read(lambda store: store.take(client_id, ids))  # noqa: B023
            held = {delivery.event_id for delivery in taken}
            for burial in group:
                if burial.event_id in held:
                    await self.publish(client_id, burial.message, burial.reason, burial.retries)
                    published = True
        return published

    async def take_remote(self, client_id: str, event_id: str, reason: str) -> bool:
        """Dead-letter a delivery this node does not hold, if the (shared) store does."""
        found = await self._journal.read(lambda store: store.take(client_id, [event_id]))
        for delivery in found:
            await self.publish(client_id, restored(delivery), reason, delivery.retries)
        return bool(found)

    async def sweep(self, now: float, forget: Forget) -> int:
        """Dead-letter every stored delivery past ``message_ttl``; return how many.

        Covers the deliveries of connected and of absent clients alike;
        ``forget`` drops one from the node's working set.
        """
        count = 0
        while True:
            expired = await self._journal.read(lambda store: store.expire(now, EXPIRE_BATCH))
            for delivery in expired:
                held = forget(delivery.client_id, delivery.event_id)
                message, retries = (restored(delivery), delivery.retries) if held is None else held
                await self.publish(delivery.client_id, message, "expired", retries)
            count += len(expired)
            if len(expired) < EXPIRE_BATCH:
                return count

    async def publish(self, client_id: str, message: Tracked, reason: str, retries: int) -> None:
        """Publish the dead letter ``{channel, message, client_id, reason, retries}``."""
        data = {
            "channel": message.frame.get("channel", display_name(message.channel)),
            "message": message.frame,
            "client_id": client_id,
            "reason": reason,
            "retries": retries,
        }
        try:
            await self._publish(dead_letter_channel(message.channel), data)
        except Exception:
            logger.exception("could not publish a dead letter of %s", message.event_id)
