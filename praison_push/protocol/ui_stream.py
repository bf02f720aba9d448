"""What the agent-UI streams (AG-UI, the AI SDK UI message stream) share: event ids.

Each of those protocols is a pure translator from a run's events, in order, to
its own events (:mod:`.agui`, :mod:`.ai_sdk`). A run's events are publications
of its run channel, each with its channel ``offset``; one run event may become
several protocol events, the ``index``-th of which gets the SSE id
``<execution_id>:<offset>:<index>``. Translation is deterministic, so a stream
reopened with ``Last-Event-ID`` (or ``?after=``) replays the run from its
history through a fresh translator and sends only the events after that id —
no gap, no duplicate.

A translator also says which of its events *end a stream*: the run's end, and
(for approvals) a pause that the client answers with a new request which
continues the same run in a new stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "StreamPosition",
    "Translator",
    "UiEvent",
    "event_id",
    "interrupt_id",
    "parse_event_id",
    "split_interrupt_id",
]

#: ``(offset, index)``: where an event of a UI stream comes from in its run.
StreamPosition = tuple[int, int]

_EVENT_ID = re.compile(r"^([A-Za-z0-9_.-]{1,128}):(\d{1,18}):(\d{1,6})$")


def event_id(execution_id: str, position: StreamPosition) -> str:
    """The SSE id of the event at ``position`` of run ``execution_id``."""
    return f"{execution_id}:{position[0]}:{position[1]}"


def parse_event_id(text: str) -> tuple[str, StreamPosition] | None:
    """``(execution_id, position)`` of an id made by :func:`event_id`, else ``None``."""
    match = _EVENT_ID.match(text.strip())
    if match is None:
        return None
    return match.group(1), (int(match.group(2)), int(match.group(3)))


@dataclass
class UiEvent:
    """One protocol event: its JSON fields, and whether the stream ends after it.

    Attributes:
        fields: The event as the protocol spells it (camelCase keys).
        ends_stream: The stream closes after this event (run over, or paused).
        interrupt_ids: The interrupts (approval requests) this event pauses on.
    """

    fields: dict[str, Any]
    ends_stream: bool = False
    interrupt_ids: tuple[str, ...] = field(default=())


class Translator(Protocol):
    """Turns a run's events, in order, into one protocol's events."""

    def feed(self, data: Mapping[str, Any]) -> list[UiEvent]:
        """The protocol events of one run event (the ``data`` of a run publication)."""
        ...

    def fail(self, code: str, message: str) -> list[UiEvent]:
        """A whole stream that fails before its first event (e.g. lost history)."""
        ...


def interrupt_id(execution_id: str, tool_call_id: str) -> str:
    """The id of an approval request as both protocols carry it: run and tool call."""
    return f"{execution_id}:{tool_call_id}"


def split_interrupt_id(text: str) -> tuple[str, str] | None:
    """``(execution_id, tool_call_id)`` of :func:`interrupt_id`'s result, else ``None``."""
    execution_id, sep, tool_call_id = text.partition(":")
    if not sep or not execution_id or not tool_call_id or len(text) > 512:
        return None
    return execution_id, tool_call_id
