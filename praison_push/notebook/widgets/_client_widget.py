"""``ClientWidget``: a widget that follows a client, and says when that client is gone.

:class:`ChannelLog` and :class:`PresenceList` show what a client hears. When
the connection drops (the gateway stopped, the network went away) or the client
is closed, what they show is no longer live — rows of "online" clients in
particular would lie. So they follow the client's ``connected`` /
``disconnected`` / ``reconnecting`` events and keep, in their ``meta`` part:

* ``connection``: ``connected``, ``reconnecting`` (the client is trying) or
  ``closed`` (the client closed for good, or the widget was closed);
* ``connection_note``: why, in a few words.

The front end marks such a widget visibly, and its saved fallback says so.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ._base import StreamWidget
from ._format import escape
from ._parts import MetaPart, Part
from ._sources import ClientLink, EventHandler

__all__ = ["ClientWidget"]

#: Close codes worth naming (RFC 6455 and PROTOCOL.md §3).
_CODE_NOTES = {
    1000: "closed",
    1001: "the gateway went away",
    1006: "the connection dropped",
    1011: "the gateway failed",
    1012: "the gateway restarted",
}


def _why(data: Any) -> str:
    if not isinstance(data, Mapping):
        return "the connection dropped"
    code, reason = data.get("code"), data.get("reason")
    note = _CODE_NOTES.get(code, "the connection dropped") if isinstance(code, int) else ""
    if isinstance(reason, str) and reason and reason not in note:
        note = f"{note}: {reason}" if note else reason
    return note or "the connection dropped"


class ClientWidget(StreamWidget):
    """A widget fed by a client's events; tracks whether that client is still connected."""

    def __init__(self, parts: Mapping[str, Part], meta: MetaPart, **options: Any) -> None:
        self._meta = meta
        self._client: Any = None
        self._client_link: ClientLink | None = None
        super().__init__(parts, **options)

    def _link(
        self,
        client: Any,
        handlers: Mapping[str, EventHandler],
        setup: Callable[[Any], Coroutine[Any, Any, None]],
        what: str,
    ) -> ClientLink:
        """Register ``handlers`` plus the connection ones on ``client``, then run ``setup``."""
        self._client = client
        link = self._client_link = ClientLink(client)
        self._add_detacher(link.stop)
        connected = bool(getattr(client, "is_connected", True))
        with self._lock:
            self._meta.update(
                connection="connected" if connected else "reconnecting",
                connection_note="" if connected else "not connected yet",
            )
        events: dict[str, EventHandler] = {
            "connected": self._on_connected,
            "disconnected": self._on_disconnected,
            "reconnecting": self._on_reconnecting,
            **handlers,
        }
        link.start(events, setup, what)
        return link

    @property
    def connection(self) -> str:
        """``connected``, ``reconnecting`` or ``closed`` (see the module docstring)."""
        with self._lock:
            return str(self._meta.get("connection", "connected"))

    # --- connection events (on the client's callback thread or loop) ------------------

    def _on_connected(self, _greeting: Any) -> None:
        self._set_connection("connected", "")
        self._reconnected()

    def _on_disconnected(self, data: Any) -> None:
        closed = bool(getattr(self._client, "closed", False)) or (
            isinstance(data, Mapping) and data.get("code") == 1000
        )
        why = _why(data)
        self._set_connection("closed" if closed else "reconnecting", why)

    def _on_reconnecting(self, data: Any) -> None:
        with self._lock:
            why = str(self._meta.get("connection_note") or "the connection dropped")
        attempt = data.get("attempt") if isinstance(data, Mapping) else None
        if isinstance(attempt, int) and attempt > 1:
            why = f"{why.split(' (attempt')[0]} (attempt {attempt})"
        self._set_connection("reconnecting", why)

    def _set_connection(self, state: str, note: str) -> None:
        with self._lock:
            if self._closed:
                return
            before = self._meta.get("connection")
            self._meta.update(connection=state, connection_note=note)
            self._changed()
        if before != state:
            self._refresh_saved()

    def _reconnected(self) -> None:
        """Hook: the client is connected again (refresh what may have changed meanwhile)."""

    def _note_final(self, note: str) -> None:
        super()._note_final(note)
        self._meta.update(connection="closed", connection_note=self._final_note)

    # --- text for fallbacks ------------------------------------------------------------

    def _connection_text(self) -> str:
        """``""`` while connected, else a short warning (lock held)."""
        state = self._meta.get("connection", "connected")
        if state == "connected":
            return ""
        note = self._meta.get("connection_note") or ""
        label = "disconnected, reconnecting" if state == "reconnecting" else "not live"
        return f"⚠ {label}{f' ({note})' if note else ''}"

    def _connection_html(self) -> str:
        text = self._connection_text()
        return f"<div><b>{escape(text)}</b></div>" if text else ""
