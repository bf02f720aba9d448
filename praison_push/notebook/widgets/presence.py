"""``PresenceList``: who is connected, with status, metadata and when last seen."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from praison_push.client import PresenceInfo

from ._client_widget import ClientWidget
from ._flusher import Flusher
from ._format import ago, count, escape
from ._parts import MetaPart, RowsPart
from ._sources import EventHandler, compact, resolve

__all__ = ["PresenceList"]

logger = logging.getLogger("praison_push.notebook")

#: The presence frames the widget follows (PROTOCOL.md §2).
PRESENCE_EVENTS = ("presence_join", "presence_update", "presence_leave")
#: The gateway's answer to this client's own ``set_status`` (and to its heartbeats).
OWN_STATUS_ACK = "presence.heartbeat_ack"


class PresenceList(ClientWidget):
    """The clients present on a channel (or on the gateway), kept live.

    Starts from ``get_presence(channel)`` and then follows the gateway's
    ``presence_join`` / ``presence_update`` / ``presence_leave`` frames (the
    client hands out the changes a ``presence_diff`` batches one by one). Those
    go to a channel's *other* subscribers, so the widget's own client is
    followed through the gateway's answer to its ``set_status`` and heartbeats:
    each one re-reads the list, which also refreshes when every client was last
    seen. A client that is connected shows as *active*; the gateway marks one
    that went silent ``offline`` (``PresenceConfig.offline_timeout``).

    With a ``channel`` the client is subscribed to it. Without one, the list
    starts from every client of the gateway and follows the channels this
    client is subscribed to — so a client leaving one of those channels drops
    out of the list even if it is still connected elsewhere. Give a
    ``channel`` for exact tracking.

    When the widget's client loses its connection the list is marked as not
    live (the rows are what was known then), and re-read once it is back.

    Args:
        client: A blocking :class:`praison_push.sync.PushClient` or an
            :class:`~praison_push.client.AsyncPushClient`.
        channel: Whose presence to show (``None``: the whole gateway).

    Example::

        PresenceList(client, "alerts")
    """

    KIND = "presence_list"

    def __init__(
        self, client: Any, channel: str | None = None, *, flusher: Flusher | None = None
    ) -> None:
        if channel is not None and (not isinstance(channel, str) or not channel):
            raise ValueError(f"channel must be a channel name or None, got {channel!r}")
        self._channel = channel
        self._rows = RowsPart()
        meta = MetaPart(
            channel=channel,
            self_id=str(getattr(client, "client_id", "") or ""),
            error=None,
            connection="connected",
            connection_note="",
        )
        self._early: list[Mapping[str, Any]] | None = []  # held back until the list is in
        super().__init__({"clients": self._rows, "meta": meta}, meta, flusher=flusher)
        self._follow(lambda: self._start(client))

    def _start(self, client: Any) -> None:
        handlers: dict[str, EventHandler] = dict.fromkeys(PRESENCE_EVENTS, self._on_frame)
        handlers[OWN_STATUS_ACK] = self._on_own_status
        self._link(client, handlers, self._setup, "following presence")

    @property
    def channel(self) -> str | None:
        """The channel shown (``None``: the whole gateway)."""
        return self._channel

    @property
    def clients(self) -> list[dict[str, Any]]:
        """One dict per present client: ``client_id``, ``status``, ``metadata``, ``last_seen``."""
        with self._lock:
            return self._rows.rows

    # --- feeding ---------------------------------------------------------------------

    async def _setup(self, client: Any) -> None:
        entries: list[PresenceInfo] = []
        try:
            if self._channel is not None:
                await resolve(client.subscribe(self._channel))
            entries = await resolve(client.get_presence(self._channel))
        except Exception as exc:
            with self._lock:
                self._meta.update(error=f"could not get presence: {exc}")
                self._changed()
            raise
        finally:
            self._seed(entries)

    def _seed(self, entries: list[PresenceInfo]) -> None:
        with self._lock:
            for entry in entries:
                self._rows.upsert(self._entry_row(entry))
            early, self._early = self._early or [], None
            for frame in early:
                self._apply(frame)
            self._changed()

    @staticmethod
    def _entry_row(entry: PresenceInfo) -> dict[str, Any]:
        return {
            "id": entry.client_id,
            "client_id": entry.client_id,
            "user_id": entry.user_id or "",
            "status": entry.status,
            "metadata": compact(entry.metadata, 500) if entry.metadata else "",
            "last_seen": entry.last_seen or time.time(),
        }

    def _on_own_status(self, _ack: Any) -> None:
        self._reread()

    def _reconnected(self) -> None:
        self._reread()

    def _reread(self) -> None:
        """Read the whole list again (the own client's status, everyone's last seen)."""
        link = self._client_link
        if link is None or self._closed:
            return
        link.run(self._fetch, "re-reading presence")

    async def _fetch(self, client: Any) -> None:
        try:
            entries = await resolve(client.get_presence(self._channel))
        except Exception as exc:  # e.g. the connection dropped again meanwhile
            logger.debug("re-reading presence failed: %r", exc)
            return
        with self._lock:
            if self._early is not None:
                return  # the first read is still under way
            present = {entry.client_id for entry in entries}
            self._rows.remove([row["id"] for row in self._rows.rows if row["id"] not in present])
            for entry in entries:
                self._rows.upsert(self._entry_row(entry))
            self._changed()

    def _on_frame(self, frame: Any) -> None:
        if not isinstance(frame, Mapping):
            return
        if self._channel is not None and frame.get("channel") != self._channel:
            return
        with self._lock:
            if self._early is not None:
                self._early.append(frame)
                return
            self._apply(frame)
            self._changed()

    def _apply(self, frame: Mapping[str, Any]) -> None:
        data = frame.get("data")
        if not isinstance(data, Mapping):
            return
        client_id = data.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            return
        if frame.get("type") == "presence_leave":
            self._rows.remove([client_id])
            return
        stamp = frame.get("timestamp")
        metadata = data.get("metadata")
        row: dict[str, Any] = {
            "id": client_id,
            "client_id": client_id,
            "status": str(data.get("status") or "online"),
            "metadata": compact(metadata, 500) if metadata else "",
            "last_seen": float(stamp) if isinstance(stamp, (int, float)) else time.time(),
        }
        if client_id not in self._rows:
            row["user_id"] = ""
        self._rows.upsert(row)

    # --- text ------------------------------------------------------------------------

    def _seen(self, row: Mapping[str, Any], now: float) -> str:
        live = self._meta.get("connection", "connected") == "connected"
        if live and row["status"] != "offline":
            return "active"
        return ago(row["last_seen"], now)

    def _describe(self) -> str:
        where = f"#{self._channel}" if self._channel else "gateway"
        lines = [f"PresenceList {where}: {count(len(self._rows), 'client')}"]
        warning = self._connection_text()
        if warning:
            lines.append(warning)
        now = time.time()
        for row in self._rows.rows:
            you = " (you)" if row["client_id"] == self._meta["self_id"] else ""
            metadata = f" {row['metadata']}" if row["metadata"] else ""
            seen = self._seen(row, now)
            lines.append(f"  {row['client_id']}{you} {row['status']}{metadata} · {seen}")
        return "\n".join(lines)

    def _describe_html(self) -> str:
        where = f"#{self._channel}" if self._channel else "gateway"
        now = time.time()
        rows = []
        for row in self._rows.rows:
            you = " (you)" if row["client_id"] == self._meta["self_id"] else ""
            rows.append(
                "<tr>"
                f"<td>{escape(row['client_id'])}{escape(you)}</td>"
                f"<td>{escape(row['status'])}</td>"
                f"<td><code>{escape(row['metadata'])}</code></td>"
                f"<td>{escape(self._seen(row, now))}</td>"
                "</tr>"
            )
        table = (
            "<table><thead><tr><th>Client</th><th>Status</th><th>Metadata</th>"
            f"<th>Last seen</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            if rows
            else ""
        )
        return (
            "<div class='praison-push-presence'>"
            f"<div><b>PresenceList</b> {escape(where)} · {escape(count(len(self._rows), 'client'))}"
            f"</div>{self._connection_html()}{table}</div>"
        )
