"""Who is here: presence entries of a channel or of a viewer's scope, and their pages.

``presence.query`` is answered in pages (``limit``, ``cursor``) so that a small
query cannot ask for megabytes; on gateways sharing presence (Redis) a page
lists the clients of every gateway.
"""

from __future__ import annotations

from typing import Any

from .connection import Connection
from .node import Node
from .presence import take_page

__all__ = ["presence_of", "presence_page", "present"]


def present(
    node: Node, channel: str | None = None, viewer: Connection | None = None
) -> list[Connection]:
    """The connections :func:`presence_of` lists (entries not built)."""
    if channel is None:
        scope = None if viewer is None else viewer.principal.scope
        return [
            c for c in node.connections.values() if viewer is None or c.principal.scope == scope
        ]
    found = node.channels.get(channel)
    return [] if found is None else list(found.subscribers)


def presence_of(
    node: Node, channel: str | None = None, viewer: Connection | None = None
) -> list[dict[str, Any]]:
    """Presence entries, one per client, of an internal channel or of the whole node.

    The whole node is listed as far as ``viewer``'s scope goes (its
    organisation; a user without one sees only itself; anonymous viewers see
    the anonymous clients); without a viewer, every client.
    """
    return node.presence.entries(present(node, channel, viewer))


async def presence_page(
    node: Node,
    channel: str | None,
    viewer: Connection,
    *,
    limit: int,
    cursor: str | None,
    max_bytes: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of :func:`presence_of` (``presence.query``), across every gateway
    sharing presence, and the next page's cursor."""
    if node.presence_sync is None:
        return node.presence.page(
            present(node, channel, viewer), limit=limit, cursor=cursor, max_bytes=max_bytes
        )
    local = presence_of(node, channel, viewer)
    found = {
        str(entry["client_id"]): entry
        for entry in await node.presence_sync.query(channel, viewer.principal.scope, local)
    }
    return take_page(found, found.__getitem__, limit=limit, cursor=cursor, max_bytes=max_bytes)
