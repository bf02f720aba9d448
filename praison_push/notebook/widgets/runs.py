"""Live views of one agent run: :class:`TokenStream`, :class:`ToolCalls`, :class:`ExecutionView`.

Each follows a run handle's events (``execution.subscribe``, past events
first, so a widget made after the run started — or ended — shows all of it),
or is fed by hand with :meth:`handle`. When the run ends the full state is
published as the snapshot, so the finished widget survives a page reload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import traitlets

from praison_push.protocol.runs import TERMINAL_EVENTS

from ._base import StreamWidget
from ._flusher import Flusher
from ._format import escape
from ._parts import Part
from ._run import RunTracker, ToolTracker
from ._sources import answer_in_background, read_event, watch_execution

__all__ = ["ExecutionView", "TokenStream", "ToolCalls"]

W = TypeVar("W", bound="_RunWidget")

logger = logging.getLogger("praison_push.notebook")

#: Characters of a run's text kept in its saved HTML fallback (the end of it).
HTML_TEXT = 100_000


class _RunWidget(StreamWidget):
    """A widget fed by one run's events."""

    def __init__(
        self,
        parts: dict[str, Part],
        execution: Any = None,
        *,
        flusher: Flusher | None = None,
        **traits: Any,
    ) -> None:
        self._ended = False
        super().__init__(parts, flusher=flusher, **traits)
        if execution is not None:
            self._follow(lambda: self.attach(execution))

    def attach(self: W, execution: Any) -> W:
        """Follow ``execution`` (an :class:`~praison_push.client.Execution` or its blocking face).

        Returns this widget, so ``TokenStream().attach(run)`` displays it. The
        Approve/Deny buttons of its approval requests answer through it.
        """
        with self._lock:
            self._describe_run(execution)
            self._execution = execution
            self._changed()
        self._add_detacher(watch_execution(execution, self.handle))
        return self

    def approve(self, tool_call_id: str, approved: bool = True, reason: str | None = None) -> None:
        """Answer an approval request of the followed run (what the buttons do).

        Sent without waiting for the gateway's reply, from any thread (the
        front end's messages arrive on the kernel's); the answer shows when
        the run publishes it. A refusal (``forbidden``, nothing waiting) is logged.
        """
        execution = getattr(self, "_execution", None)
        if execution is None:
            raise RuntimeError("this widget follows no run: attach(execution) first")
        answer_in_background(execution, tool_call_id, approved, reason)

    def _on_command(self, content: Mapping[str, Any]) -> None:
        if content.get("kind") != "approve":
            return
        tool_call_id, approved = content.get("tool_call_id"), content.get("approved")
        if not isinstance(tool_call_id, str) or not isinstance(approved, bool):
            return
        reason = content.get("reason")
        try:
            self.approve(tool_call_id, approved, reason if isinstance(reason, str) else None)
        except RuntimeError as exc:
            logger.warning("%s", exc)

    def handle(self, event: Any) -> None:
        """Apply one run event (an ``ExecutionEvent``, or a PROTOCOL.md §4 data dict).

        Called from the client's thread or loop; safe from any thread.
        """
        kind, data, when = read_event(event)
        with self._lock:
            if self._closed or self._ended:
                return  # nothing follows a terminal event (PROTOCOL.md §4)
            self._apply(kind, data, when)
            self._changed()
            ended = self._ended = kind in TERMINAL_EVENTS
        if ended:
            self._checkpoint()
            self._refresh_saved()  # a saved notebook shows how the run ended

    def _refresh_saved(self, *, in_cell: bool | None = None) -> None:
        """Rewrite the saved fallback once the run has ended, not while it streams.

        A front end redraws a widget view whose output is rewritten; doing that
        after every cell while a run streams would make the view flicker, for a
        fallback that would be stale a moment later anyway.
        """
        if self._ended:
            super()._refresh_saved(in_cell=in_cell)

    def _describe_run(self, execution: Any) -> None:
        """Hook (lock held): take what the handle knows before its first event."""

    def _apply(self, kind: str, data: Any, when: float) -> None:
        """Hook (lock held): apply one event to the parts."""


class _TextRunWidget(_RunWidget):
    """A run widget showing the run's text and status line (parts ``text`` and ``meta``)."""

    #: Render the text as Markdown (may be toggled while displayed).
    markdown = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        parts: dict[str, Part],
        execution: Any = None,
        *,
        markdown: bool = False,
        flusher: Flusher | None = None,
        run: RunTracker | None = None,
    ) -> None:
        self._run = run if run is not None else RunTracker()
        parts = {"text": self._run.text, "meta": self._run.meta, **parts, **self._own_parts()}
        super().__init__(parts, execution, flusher=flusher, markdown=markdown)

    def _own_parts(self) -> dict[str, Part]:
        """Hook: the run tracker's parts this kind shows besides text and meta."""
        return {}

    @property
    def text(self) -> str:
        """The text so far."""
        with self._lock:
            return self._run.text.value

    @property
    def status(self) -> str:
        """``""`` before the run is heard of, then the run's status."""
        with self._lock:
            return str(self._run.meta["status"])

    def _describe_run(self, execution: Any) -> None:
        self._run.describe(execution)

    def _apply(self, kind: str, data: Any, when: float) -> None:
        self._run.handle(kind, data, when)

    def _before_flush(self) -> None:
        self._run.refresh()


class TokenStream(_TextRunWidget):
    """The live text of a run, with a blinking cursor while it runs and a status line.

    The status line shows the agent, the status, the token count, tokens per
    second and, once done, the latency. ``markdown=True`` renders **bold**,
    ``code`` spans, fenced code blocks and paragraphs (with a small renderer
    that escapes everything first: the text comes from the network).

    Args:
        execution: The run to follow (``None``: feed it with :meth:`handle`).
        markdown: Render the text as (a safe subset of) Markdown.

    Example::

        run = client.execute("demo-weather", "Weather in Paris?")
        TokenStream(run, markdown=True)
    """

    KIND = "token_stream"

    def __init__(
        self, execution: Any = None, *, markdown: bool = False, flusher: Flusher | None = None
    ) -> None:
        super().__init__({}, execution, markdown=markdown, flusher=flusher)

    def _describe(self) -> str:
        return f"[{self._run.summary()}]\n{self._run.text.value}"

    def _describe_html(self) -> str:
        run = self._run
        return f"<div class='praison-push-run'>{run.html_head()}{run.html_text(HTML_TEXT)}</div>"


class ToolCalls(_RunWidget):
    """A run's tool calls as a table: name, arguments (live while the model streams
    them), status, result, duration — and Approve/Deny buttons on a call that
    waits for a person.

    Args:
        execution: The run to follow (``None``: feed it with :meth:`handle`).
    """

    KIND = "tool_calls"

    def __init__(self, execution: Any = None, *, flusher: Flusher | None = None) -> None:
        self._tools = ToolTracker()
        super().__init__({"calls": self._tools.rows}, execution, flusher=flusher)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """One dict per call, in the order they started."""
        with self._lock:
            return self._tools.rows.rows

    def _apply(self, kind: str, data: Any, when: float) -> None:
        self._tools.handle(kind, data, when)

    def _describe(self) -> str:
        lines = self._tools.lines()
        return "\n".join(lines) if lines else "(no tool calls)"

    def _describe_html(self) -> str:
        return f"<div class='praison-push-run'>{self._tools.html() or '(no tool calls)'}</div>"


class ExecutionView(_TextRunWidget):
    """One run at a glance: status line, live text, tool calls (with Approve/Deny
    buttons on a call that waits for a person), the reasoning folded, usage and latency.

    One widget model (one comm, one delta stream) carrying what
    :class:`TokenStream` and :class:`ToolCalls` show separately.

    Args:
        execution: The run to follow (``None``: feed it with :meth:`handle`).
        markdown: Render the text as (a safe subset of) Markdown.
    """

    KIND = "execution_view"

    def __init__(
        self, execution: Any = None, *, markdown: bool = False, flusher: Flusher | None = None
    ) -> None:
        run = RunTracker()
        self._tools = ToolTracker(run.state)  # reads the tool calls the run tracker applies
        super().__init__(
            {"calls": self._tools.rows}, execution, markdown=markdown, flusher=flusher, run=run
        )

    @property
    def calls(self) -> list[dict[str, Any]]:
        """One dict per tool call, in the order they started."""
        with self._lock:
            return self._tools.rows.rows

    def _apply(self, kind: str, data: Any, when: float) -> None:
        super()._apply(kind, data, when)
        self._tools.handle(kind, data, when)

    def _own_parts(self) -> dict[str, Part]:
        return {"reasoning": self._run.reasoning}

    @property
    def reasoning(self) -> str:
        """The reasoning the model streamed (shown folded)."""
        with self._lock:
            return self._run.reasoning.value

    def _describe(self) -> str:
        lines = [f"[{self._run.summary()}]", *self._tools.lines()]
        if len(self._run.reasoning):
            lines.append(f"reasoning: {len(self._run.reasoning)} characters (folded)")
        usage = self._run.usage_text()
        if usage:
            lines.append(usage)
        lines.append(self._run.text.value)
        return "\n".join(lines)

    def _describe_html(self) -> str:
        run = self._run
        usage = run.usage_text()
        notes = f"<div>{escape(usage)}</div>" if usage else ""
        return (
            f"<div class='praison-push-run'>{run.html_head()}{self._tools.html()}"
            f"{run.html_text(HTML_TEXT)}{notes}</div>"
        )
