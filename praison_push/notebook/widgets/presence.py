"""``PresenceList``: who is connected, with status, metadata and when last seen."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from praison_push.client import PresenceInfo

from ._base import StreamWidget
from ._flusher import Flusher
from ._parts import MetaPart, RowsPart
from ._sources import ClientLink, compact, resolve

__all__ = ["PresenceList"]

#: The presence frames the widget follows (PROTOCOL.md §2).
PRESENCE_EVENTS = ("presence_join", "presence_update", "presence_leave")


class PresenceList(StreamWidget):
    """The clients present on a channel (or on the gateway), kept live.

    Starts from ``get_presence(channel)`` and then follows the gateway's
    ``presence_join`` / ``presence_update`` / ``presence_leave`` frames. Those
    go to a channel's subscribers, so with a ``channel`` the client is
    subscribed to it. Without one, the list starts from every client of the
    gateway and follows the channels this client is subscribed to — so a
    client leaving one of those channels drops out of the list even if it is
    still connected elsewhere. Give a ``channel`` for exact tracking.

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
        self._meta = MetaPart(
            channel=channel, self_id=str(getattr(client, "client_id", "") or ""), error=None
        )
        self._early: list[Mapping[str, Any]] | None = []  # held back until the list is in
        super().__init__({"clients": self._rows, "meta": self._meta}, flusher=flusher)
        self._follow(lambda: self._start(client))

    def _start(self, client: Any) -> None:
        link = ClientLink(client)
        self._add_detacher(link.stop)
        handlers = dict.fromkeys(PRESENCE_EVENTS, self._on_frame)
        link.start(handlers, self._setup, "following presence")

    @property
    def channel(self) -> str | None:
        """The channel shown (``None``: the whole gateway)."""
        return self._channel

    @property
    def clients(self) -> list[dict[str, Any]]:
        """One dict per present client: ``client_id``, ``status``, ``metadata``, ``last_seen``."""
        with self._lock:
            return self._rows.rows

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
                self._rows.upsert(
                    {
                        "id": entry.client_id,
                        "client_id": entry.client_id,
                        "user_id": entry.user_id or "",
                        "status": entry.status,
                        "metadata": compact(entry.metadata, 500) if entry.metadata else "",
                        "last_seen": entry.last_seen or time.time(),
                    }
                )
            early, self._early = self._early or [], None
            for frame in early:
                self._apply(frame)
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

    def _describe(self) -> str:
        where = self._channel or "gateway"
        count = len(self._rows)
        lines = [f"PresenceList {where}: {count} client{'' if count == 1 else 's'}"]
        now = time.time()
        for row in self._rows.rows:
            ago = max(0, round(now - row["last_seen"]))
            you = " (you)" if row["client_id"] == self._meta["self_id"] else ""
            metadata = f" {row['metadata']}" if row["metadata"] else ""
            lines.append(f"  {row['client_id']}{you} {row['status']}{metadata} · {ago}s ago")
        return "\n".join(lines)
