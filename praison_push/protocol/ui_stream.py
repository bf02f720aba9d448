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

from .runs import RunEvent

__all__ = [
    "RunTranslator",
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


class RunTranslator:
    """The walk over one run's events that every agent-UI protocol shares.

    :meth:`feed` is the one switch over the run vocabulary; a protocol says
    what each event becomes by overriding the ``_on_*`` methods (and
    :meth:`_start`, the stream's opening, sent before the first event that is
    not an approval request). Nothing is produced after the run ended.

    Attributes:
        run_id: The run's execution id (learnt from its events when not given).
    """

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self._open = False  # between the stream's opening and its end
        self._ended = False
        self._count = 0

    def _next_id(self, kind: str) -> str:
        self._count += 1
        return f"{self.run_id}-{kind}-{self._count}"

    def feed(self, data: Mapping[str, Any]) -> list[UiEvent]:
        """The protocol's events of one run event (none after the run ended)."""
        if self._ended:
            return []
        kind = data.get("event")
        if not self.run_id:
            self.run_id = str(data.get("execution_id") or "run")
        self._seen(data)
        out: list[UiEvent] = []
        if not self._open and kind is not None and kind != RunEvent.APPROVAL_REQUEST:
            self._open = True
            self._start(out)
        if kind == RunEvent.TOKEN:
            self._on_text(data.get("token"), out)
        elif kind == RunEvent.REASONING:
            self._on_reasoning(data.get("delta"), out)
        elif kind == RunEvent.TOOL_CALL_DELTA:
            self._on_tool_delta(data, out)
        elif kind == RunEvent.TOOL:
            call = data.get("tool_call")
            if isinstance(call, Mapping):
                self._on_tool(call, out)
        elif kind == RunEvent.APPROVAL_REQUEST:
            self._on_approval(data, out)
        elif kind == RunEvent.APPROVAL_RESULT:
            self._on_approval_result(data, out)
        elif kind == RunEvent.COMPLETE:
            self._ended = True
            self._on_complete(data, out)
        elif kind == RunEvent.ERROR:
            self._ended = True
            self._on_error(data, out)
        return out

    # --- what a protocol overrides ------------------------------------------------

    def _seen(self, data: Mapping[str, Any]) -> None:
        """Learn what the protocol needs of any run event (its conversation…)."""

    def _start(self, out: list[UiEvent]) -> None:
        """The stream's opening events."""

    def _on_text(self, token: Any, out: list[UiEvent]) -> None: ...

    def _on_reasoning(self, delta: Any, out: list[UiEvent]) -> None: ...

    def _on_tool_delta(self, data: Mapping[str, Any], out: list[UiEvent]) -> None: ...

    def _on_tool(self, call: Mapping[str, Any], out: list[UiEvent]) -> None: ...

    def _on_approval(self, data: Mapping[str, Any], out: list[UiEvent]) -> None: ...

    def _on_approval_result(self, data: Mapping[str, Any], out: list[UiEvent]) -> None: ...

    def _on_complete(self, data: Mapping[str, Any], out: list[UiEvent]) -> None: ...

    def _on_error(self, data: Mapping[str, Any], out: list[UiEvent]) -> None: ...
