"""The in-process presence store: every node's entries in one dict (see :class:`PresenceStore`).

For gateways (hubs) sharing one process, and the contract suite; a gateway
alone keeps presence in its connections and needs no store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["MemoryPresenceStore"]


class MemoryPresenceStore:
    """Presence entries of the nodes of one process, by node id."""

    name = "memory"
    shared = True  # by every hub given this object

    def __init__(self) -> None:
        #: node id → (expires, entries by client_id)
        self._nodes: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}

    async def write(
        self,
        node_id: str,
        entries: Mapping[str, dict[str, Any]],
        removed: Sequence[str],
        *,
        expires: float,
        replace: bool = False,
    ) -> None:
        found = self._nodes.get(node_id)
        kept = {} if found is None or replace else found[1]
        kept.update(entries)
        for client_id in removed:
            kept.pop(client_id, None)
        self._nodes[node_id] = (expires, kept)

    async def read(self, now: float) -> dict[str, list[dict[str, Any]]]:
        return {
            node_id: list(entries.values())
            for node_id, (expires, entries) in self._nodes.items()
            if expires > now
        }

    async def reap(self, now: float) -> dict[str, list[dict[str, Any]]]:
        dead = [node_id for node_id, (expires, _) in self._nodes.items() if expires <= now]
        return {node_id: list(self._nodes.pop(node_id)[1].values()) for node_id in dead}

    async def remove_node(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)

    async def close(self) -> None:
        return None
