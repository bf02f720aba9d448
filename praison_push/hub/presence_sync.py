"""Presence across gateways: this node's entries in a shared store, changes relayed.

Gateways on one Redis share presence three ways (docs/ARCHITECTURE.md, "Scale-out"):

* **Entries.** Each node writes its clients' entries to the
  :class:`~praison_push.backends.base.PresenceStore` when they change (at the
  next upkeep tick, a quarter heartbeat at most) and rewrites them all every
  half heartbeat, saying they hold for ``offline_timeout``.
  ``presence.query`` on any node merges the store's entries of the other live
  nodes with its own (fresher) ones: one entry per client, the most recently
  seen.
* **Changes.** Every join/update/leave announced here is also published, in
  order and batched, on the broker's :data:`RELAY_CHANNEL`; every other node
  announces it to its own co-subscribers (budget and batching as for local changes).
* **Death.** A node that stops refreshing (killed, cut off) is no longer
  listed once its entries' ``offline_timeout`` has passed; the first node to
  :meth:`~PresenceStore.reap` it announces its clients' leaves to the
  co-subscribers it has (skipping clients that came back to this node).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..backends.base import BackendUnavailableError, PresenceStore
from ..config import PresenceConfig
from .channels import ChannelRegistry
from .connection import Connection
from .presence import Presence

__all__ = ["RELAY_CHANNEL", "PresenceSync"]

logger = logging.getLogger("praison_push.hub")

#: The broker channel presence changes travel on between gateways (never a client's).
RELAY_CHANNEL = "$presence-relay"

_RELAY = "presence_relay"

#: How long a clean shutdown waits for its leaves to reach the other gateways (seconds).
_CLOSE_WAIT = 2.0

Publish = Callable[[str, dict[str, Any]], Awaitable[int]]


class PresenceSync:
    """Keeps one node's presence in a shared store and relays its changes.

    Args:
        store: Where every node's entries live.
        node_id: This node's id (the hub's ``server_id``).
        config: Heartbeat and offline timeout.
        presence: The node's presence (its changes are relayed, others' announced).
        channels: The node's channels.
        connections: The node's open connections, by ``connection_id``.
        publish: The broker's ``publish`` (reaches every node, this one included).
        clock: Wall-clock time.
    """

    def __init__(
        self,
        store: PresenceStore,
        node_id: str,
        config: PresenceConfig,
        presence: Presence,
        channels: ChannelRegistry,
        connections: dict[str, Connection],
        publish: Publish,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.node_id = node_id
        self._ttl = float(config.offline_timeout)
        self._refresh_every = config.heartbeat_interval / 2
        self._presence = presence
        self._channels = channels
        self._connections = connections
        self._publish = publish
        self._clock = clock
        self._next_refresh = 0.0
        self._refresh = True  # the next write rewrites every entry
        self._reap_due = False  # look for dead nodes at the next write
        self._writer: asyncio.Task[None] | None = None
        self._outbox: list[list[Any]] = []
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        # Whether the store / the broker failed last time (one warning per outage).
        self._store_down = False
        self._relay_down = False
        presence.relay = self.relay
        presence.changed = set()

    # --- this node's entries -----------------------------------------------------

    def snapshot(self, only: set[str] | None = None) -> dict[str, dict[str, Any]]:
        """This node's entries by ``client_id`` (of the clients ``only``, when given), with
        ``scope`` (the principal's organisation, or its user without one) and
        ``subs`` (internal channel names)."""
        by_client: dict[str, Connection] = {}
        subs: dict[str, set[str]] = {}
        for connection in self._connections.values():
            client_id = connection.client_id
            if only is not None and client_id not in only:
                continue
            current = by_client.get(client_id)
            if current is None or connection.last_seen > current.last_seen:
                by_client[client_id] = connection
            subs.setdefault(client_id, set()).update(connection.subscriptions)
        entries = {}
        for client_id, connection in by_client.items():
            entry = self._presence.entry(connection)
            entry["scope"] = connection.principal.scope
            entry["subs"] = sorted(subs[client_id])
            entries[client_id] = entry
        return entries

    def tick(self, now: float) -> None:
        """Upkeep's call: write what changed, refresh everything every half heartbeat, and
        look for dead nodes (every tick: their clients' leaves follow their deadline
        within a tick)."""
        if now >= self._next_refresh:
            self._refresh = True
        self._reap_due = True
        self._kick()

    def _kick(self) -> None:
        """Start the writer unless it runs (it looks for changes again before it ends)."""
        if self._closed or (self._writer is not None and not self._writer.done()):
            return
        self._writer = asyncio.get_running_loop().create_task(
            self._write_all(), name="praison-push-presence-sync"
        )

    async def _store_follows(self) -> None:
        """Return once the store holds every change made so far (bounded by the write)."""
        self._kick()
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(writer)

    async def _write_all(self) -> None:
        presence = self._presence
        if self._reap_due and not self._closed:
            self._reap_due = False
            try:
                await self._reap(self._clock())
            except BackendUnavailableError:
                self._reap_due = True  # the write below says the store is away
            except Exception:
                logger.exception("presence reap failed")
        while not self._closed and (self._refresh or self._changed()):
            refresh, self._refresh = self._refresh, False
            dirty, presence.changed = self._changed(), set()
            now = self._clock()
            if refresh:
                self._next_refresh = now + self._refresh_every
            if not await self._write(now, refresh, dirty):
                self._changed().update(dirty)
                return  # the next tick tries again

    def _changed(self) -> set[str]:
        """The clients whose entries changed since the last write."""
        changed = self._presence.changed
        assert changed is not None  # set in __init__
        return changed

    async def _write(self, now: float, refresh: bool, dirty: set[str]) -> bool:
        """Write every entry (``refresh``), or those of the ``dirty`` clients; ``False``
        when the store could not be reached."""
        entries = self.snapshot(None if refresh else dirty)
        removed = [] if refresh else [c for c in dirty if c not in entries]
        try:
            await self.store.write(
                self.node_id, entries, removed, expires=now + self._ttl, replace=refresh
            )
            if self._store_down:
                self._store_down = False
                logger.info("presence synced with the store again")
            return True
        except BackendUnavailableError as exc:
            # Once per outage (every tick retries): the store's own client logs the rest.
            log = logger.debug if self._store_down else logger.warning
            log("presence not synced with the store: %s", exc)
            self._store_down = True
        except Exception:
            logger.exception("presence sync failed")
        self._refresh = True  # rewrite everything once the store is back
        return False

    async def _reap(self, now: float) -> None:
        """Announce the leaves of the clients of nodes that died (once, by whoever reaps)."""
        dead = await self.store.reap(now)
        here = {c.client_id for c in self._connections.values()}
        for node_id, entries in dead.items():
            logger.info(
                "gateway %s stopped refreshing presence: %d client(s) offline",
                node_id,
                len(entries),
            )
            changes = [
                [name, "presence_leave", _leave(entry)]
                for entry in entries
                if entry.get("client_id") not in here
                for name in entry.get("subs", ())
            ]
            if changes:
                self.relay_many(changes)
                self._apply(changes)

    # --- changes between nodes ---------------------------------------------------

    def relay(self, channel: str, kind: str, data: dict[str, Any]) -> None:
        """Send a change of this node's presence to the other nodes (in order, batched)."""
        self.relay_many([[channel, kind, data]])

    def relay_many(self, changes: list[list[Any]]) -> None:
        if self._closed:
            return
        self._outbox.extend(changes)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(
                self._send(), name="praison-push-presence-relay"
            )

    async def _send(self) -> None:
        while self._outbox:
            changes, self._outbox = self._outbox, []
            # The store first: whoever hears of a change finds it in presence.query.
            # Changes made meanwhile go in the next batch (one write, one publish each).
            await self._store_follows()
            frame = {"type": _RELAY, "origin": self.node_id, "changes": changes}
            try:
                await self._publish(RELAY_CHANNEL, frame)
                self._relay_down = False
            except BackendUnavailableError as exc:
                log = logger.debug if self._relay_down else logger.warning
                log("presence changes not relayed to other gateways: %s", exc)
                self._relay_down = True
            except Exception:
                logger.exception("presence relay failed")

    def receive(self, frame: dict[str, Any]) -> int:
        """The broker brought a relay frame: announce another node's changes here."""
        if frame.get("origin") == self.node_id or not isinstance(frame.get("changes"), list):
            return 0
        self._apply(frame["changes"])
        return 0

    def _apply(self, changes: list[Any]) -> None:
        for change in changes:
            if not (isinstance(change, list) and len(change) == 3):
                continue
            name, kind, data = change
            channel = self._channels.get(name) if isinstance(name, str) else None
            if channel is not None and isinstance(data, dict) and "client_id" in data:
                self._presence.announce_data(channel, kind, data)

    # --- queries and shutdown ----------------------------------------------------

    async def query(
        self, channel: str | None, scope: str | None, local: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Entries of every live node (``local`` for this one), one per client.

        ``channel``: the clients subscribed to this internal channel; else every
        client of the scope ``scope`` (an organisation, or a user without one).
        """
        found: dict[str, dict[str, Any]] = {e["client_id"]: e for e in local}
        for node_id, entries in (await self.store.read(self._clock())).items():
            if node_id == self.node_id:
                continue
            for entry in entries:
                if channel is None and entry.get("scope") != scope:
                    continue
                if channel is not None and channel not in entry.get("subs", ()):
                    continue
                client_id = entry.get("client_id")
                current = found.get(client_id) if isinstance(client_id, str) else None
                if current is None or entry.get("last_seen", 0) > current["last_seen"]:
                    shown = {k: v for k, v in entry.items() if k not in ("scope", "subs")}
                    found[str(client_id)] = shown
        return list(found.values())

    async def close(self) -> None:
        """Tell the other nodes this node's clients left, and take its entries out of the store."""
        if self._closed:
            return
        changes = [
            [name, "presence_leave", _leave(entry)]
            for entry in self.snapshot().values()
            for name in entry["subs"]
        ]
        self._closed = True
        for task in (self._writer, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        async def goodbye() -> None:
            if changes:
                frame = {"type": _RELAY, "origin": self.node_id, "changes": changes}
                await self._publish(RELAY_CHANNEL, frame)
            await self.store.remove_node(self.node_id)

        try:
            await asyncio.wait_for(goodbye(), _CLOSE_WAIT)
        except Exception as exc:  # the store or broker is away: the entries expire
            logger.warning("presence not removed from the store on shutdown: %r", exc)
        await self.store.close()


def _leave(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "client_id": entry.get("client_id"),
        "status": "offline",
        "metadata": entry.get("metadata") or {},
    }
