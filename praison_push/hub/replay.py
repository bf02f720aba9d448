"""Recovery that always completes: a subscriber's gap, replayed in pages (PROTOCOL.md §3).

A resubscribe with ``since`` used to be answered with the whole gap at once. A
gap larger than the connection's send queue overflowed it, the gateway closed
with 1013, and the client came back asking for the same gap: it reconnected
forever. :func:`catch_up` reads the gap a page at a time (half the send
queue's frames) and sends each frame only once it fits in half the queue's
bytes, waiting for the socket to take the earlier ones; only the tail left
after the last page joins the live stream (:meth:`Node.read_joining`).

It also reads a *new epoch* from its start: when the position asked for names
an epoch the channel no longer has (its history was lost, e.g. Redis
restarted empty), everything the new epoch holds is news to the client —
jumping to its tail would drop, silently, what was published since the loss.
The reply then says ``recovered: false`` (the lost part is a gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..backends.base import HistoryRead
from ..protocol import encode_json
from ..protocol.frames import ChannelSubscribeFrame, Filters
from .channels import matches_filters
from .connection import Connection
from .node import Node
from .scopes import display_name

__all__ = ["CatchUp", "answer", "catch_up", "gap_notice"]


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Where a recovering subscribe stands after :func:`catch_up`.

    Attributes:
        since: The position the live join reads history after.
        gap: The position asked for was lost (the epoch changed): ``recovered: false``.
        announced: Pages were sent, so the reply (and the pending deliveries) went out first.
    """

    since: tuple[int, str]
    gap: bool
    announced: bool


def answer(
    connection: Connection,
    request: ChannelSubscribeFrame,
    offset: int,
    epoch: str,
    recovered: bool,
) -> None:
    """Send the ``channel.subscribed`` reply to ``request`` at this position."""
    reply: dict[str, Any] = {
        "type": "channel.subscribed",
        "channel": request.channel,
        "ok": True,
        "offset": offset,
        "epoch": epoch,
        "recovered": recovered,
    }
    if request.filters is not None:
        reply["filters"] = request.filters
    if request.ref is not None:
        reply["ref"] = request.ref
    connection.send(reply)


def gap_notice(channel: str, epoch: str, offset: int, reason: str) -> dict[str, Any]:
    """The ``channel_gap`` frame: messages of ``channel`` up to ``offset`` may be missing."""
    return {
        "type": "channel_gap",
        "channel": channel,
        "epoch": epoch,
        "offset": offset,
        "reason": reason,
    }


def _too_big(read: HistoryRead, page: int, budget: int) -> bool:
    """Whether ``read`` needs paging: a full page, or more bytes than the budget."""
    if len(read.messages) >= page:
        return True
    size = 0
    for message in read.messages:
        size += len(encode_json(message))
        if size > budget:
            return True
    return False


async def catch_up(
    node: Node,
    connection: Connection,
    request: ChannelSubscribeFrame,
    name: str,
    since: tuple[int, str],
    filters: Filters | None,
) -> CatchUp | None:
    """Replay what ``connection`` missed on ``name`` after ``since``, in pages.

    Returns where the live join starts, or ``None`` when the connection closed
    meanwhile. A gap that fits in one page is left to the live join (nothing is
    sent here, so a small recovery costs one more history read and nothing else).
    """
    page = max(1, connection.max_frames // 2)
    budget = max(1, connection.max_bytes // 2)
    stall = node.config.limits.replay_stall_timeout
    read = await node.history.read(name, since=since, limit=page)
    gap = False
    if not read.recovered and read.epoch != since[1]:
        gap = True
        since = (0, read.epoch)
        read = await node.history.read(name, since=since, limit=page)
    if not node.is_open(connection):
        return None
    if not _too_big(read, page, budget):
        return CatchUp(since, gap, announced=False)
    answer(connection, request, read.offset, read.epoch, read.recovered and not gap)
    tracker = node.tracker
    if tracker is not None:
        tracker.resume(connection, name, frozenset(), after=since)
    while True:
        replay = [
            message
            for message in read.messages
            if filters is None or matches_filters(filters, message.get("data"))
        ]
        for message in replay:
            for text in connection.encode(message):
                if not await connection.wait_room(len(text), budget, stall):
                    return None
                connection.send_text(text)
        if tracker is not None:
            tracker.replayed(connection, name, replay)
        if read.messages:
            since = (int(read.messages[-1]["offset"]), read.epoch)
        if len(read.messages) < page:
            return CatchUp(since, gap, announced=True)
        read = await node.history.read(name, since=since, limit=page)
        if not node.is_open(connection):
            return None
        if not read.recovered:
            # Lost between two pages (evicted, or a new epoch): say so, go on from what is held.
            connection.send(gap_notice(display_name(name), since[1], since[0], "history_lost"))
            if read.epoch != since[1]:
                since = (0, read.epoch)
                read = await node.history.read(name, since=since, limit=page)
