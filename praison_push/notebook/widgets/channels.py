"""``ChannelLog``: the latest messages of one or more channels, newest first."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import traitlets

from praison_push.client import ChannelMessage, PushError

from ._client_widget import ClientWidget
from ._flusher import Flusher
from ._format import clock, count, escape
from ._parts import MetaPart, RowsPart
from ._sources import compact, resolve

__all__ = ["ChannelLog"]

logger = logging.getLogger("praison_push.notebook")

#: Event ids remembered to drop a message seen twice (history and live overlap).
SEEN_IDS = 1_000


class ChannelLog(ClientWidget):
    """The latest ``limit`` messages of some channels, newest first, with Pause and Clear.

    Subscribes ``client`` to the channels and starts from their history (when
    the gateway keeps one). Pause freezes the rows on screen while messages
    keep arriving (resume shows them); Clear empties the screen and the
    kernel's buffer. Both act in the browser at once, even while a cell runs.
    When the client loses its connection the log says so until it is back
    (the gateway then replays what was missed).

    Args:
        client: A blocking :class:`praison_push.sync.PushClient` or an
            :class:`~praison_push.client.AsyncPushClient`.
        channels: One channel name, or several.
        limit: How many messages to keep (the kernel and the page keep the same).
        history: Start with the channels' latest messages from the gateway's history.

    Example::

        ChannelLog(client, "alerts")
    """

    KIND = "channel_log"
    #: Whether the page shows a frozen list (set by the Pause button, or :meth:`pause`).
    paused = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        client: Any,
        channels: str | Iterable[str],
        *,
        limit: int = 50,
        history: bool = True,
        flusher: Flusher | None = None,
    ) -> None:
        names = [channels] if isinstance(channels, str) else list(channels)
        if not names or not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"channels must name at least one channel, got {channels!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        self._channels = tuple(dict.fromkeys(names))
        self._history = history
        self._rows = RowsPart(limit)
        meta = MetaPart(
            channels=list(self._channels), error=None, connection="connected", connection_note=""
        )
        self._next_id = 1
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._early: list[ChannelMessage] | None = []  # held back until the backlog is in
        super().__init__({"messages": self._rows, "meta": meta}, meta, flusher=flusher)
        self._follow(lambda: self._start(client))

    def _start(self, client: Any) -> None:
        handlers = {"channel_message": self._on_message}
        self._link(client, handlers, self._setup, "following channels")

    # --- public ----------------------------------------------------------------------------

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels shown."""
        return self._channels

    @property
    def limit(self) -> int:
        """How many messages are kept."""
        return self._rows.limit or 0

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The kept messages, newest first (``id``, ``channel``, ``time``, ``source``, ``data``)."""
        with self._lock:
            return self._rows.rows[::-1]

    def clear(self, through: int | None = None) -> None:
        """Forget the kept messages (those with ``id <= through``), here and on the page."""
        with self._lock:
            if through is None or all(row["id"] <= through for row in self._rows.rows):
                self._rows.clear()
            else:
                self._rows.remove(row["id"] for row in self._rows.rows if row["id"] <= through)
            self._changed()

    def pause(self) -> None:
        """Freeze the rows on the page (messages are still received)."""
        self.paused = True

    def resume(self) -> None:
        """Show what arrived while paused."""
        self.paused = False

    # --- feeding ---------------------------------------------------------------------------

    async def _setup(self, client: Any) -> None:
        backlog: list[ChannelMessage] = []
        try:
            for channel in self._channels:
                await resolve(client.subscribe(channel))
            if self._history:
                for channel in self._channels:
                    try:
                        backlog += await resolve(client.history(channel, limit=self.limit))
                    except PushError as exc:  # e.g. history off for this channel
                        logger.debug("no history for %r: %s", channel, exc)
        except Exception as exc:
            with self._lock:
                self._meta.update(error=f"could not subscribe: {exc}")
                self._changed()
            raise
        finally:
            self._seed(backlog)

    def _seed(self, backlog: list[ChannelMessage]) -> None:
        backlog.sort(key=lambda message: (message.timestamp, message.offset or 0))
        with self._lock:
            early, self._early = self._early or [], None
            for message in [*backlog, *early]:
                self._add(message)
            self._changed()

    def _on_message(self, message: ChannelMessage) -> None:
        if message.channel not in self._channels:
            return
        with self._lock:
            if self._early is not None:
                self._early.append(message)
                return
            self._add(message)
            self._changed()

    def _add(self, message: ChannelMessage) -> None:
        if message.event_id:
            if message.event_id in self._seen:
                return
            self._seen[message.event_id] = None
            if len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
        self._rows.upsert(
            {
                "id": self._next_id,
                "channel": message.channel,
                "time": message.timestamp or time.time(),
                "source": message.source or "",
                "data": compact(message.data),
            }
        )
        self._next_id += 1

    def _on_command(self, content: Mapping[str, Any]) -> None:
        if content.get("kind") == "clear":
            through = content.get("through")
            valid = isinstance(through, int) and not isinstance(through, bool)
            self.clear(through if valid else None)

    def _describe(self) -> str:
        head = (
            f"ChannelLog {', '.join(self._channels)}: {count(len(self._rows), 'message')}"
            f" (newest first){' [paused]' if self.paused else ''}"
        )
        lines = [head]
        warning = self._connection_text()
        if warning:
            lines.append(warning)
        for row in self._rows.rows[::-1]:
            source = f" {row['source']}" if row["source"] else ""
            lines.append(f"  {clock(row['time'])} {row['channel']}{source}: {row['data'][:200]}")
        return "\n".join(lines)

    def _describe_html(self) -> str:
        names = " ".join(f"#{name}" for name in self._channels)
        rows = "".join(
            "<tr>"
            f"<td>{escape(clock(row['time']))}</td>"
            f"<td>{escape(row['channel'])}</td>"
            f"<td>{escape(row['source'])}</td>"
            f"<td><code>{escape(row['data'][:1000])}</code></td>"
            "</tr>"
            for row in self._rows.rows[::-1]
        )
        table = (
            "<table><thead><tr><th>Time</th><th>Channel</th><th>From</th><th>Message</th>"
            f"</tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        return (
            "<div class='praison-push-channel-log'>"
            f"<div><b>ChannelLog</b> {escape(names)} · "
            f"{escape(count(len(self._rows), 'message'))} (newest first)</div>"
            f"{self._connection_html()}{table}</div>"
        )
