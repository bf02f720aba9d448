"""Reading a Server-Sent Events stream, line by line (the WHATWG parsing rules, sans-I/O).

Feed it the stream's lines (without their line ending); each blank line that ends
an event with data gives one :class:`SSEEvent`. Comments (``: keepalive``) and
``retry:`` are remembered, never returned as events.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its name (``message`` by default), data and last event id."""

    event: str
    data: str
    id: str


class SSEDecoder:
    """Turns lines into events.

    Attributes:
        last_event_id: The id to send as ``Last-Event-ID`` when reconnecting.
        retry: The reconnection delay the server asked for, in milliseconds.
    """

    def __init__(self) -> None:
        self.last_event_id = ""
        self.retry: int | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SSEEvent | None:
        """Take one line; the event it completes, if any."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent(self._event or "message", "\n".join(self._data), self.last_event_id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None
