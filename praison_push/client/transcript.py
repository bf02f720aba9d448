"""A run as text: live in a terminal, or as the transcript of a finished run.

Two readers of one run outside a notebook: ``praison-push execute`` and
``run.show()`` in a terminal or the plain REPL print the run as it happens
(:class:`RunPrinter`: tokens as they come, a line per tool call, the final
status), and a finished run's ``repr``/``str`` is its :func:`transcript`. Both
read the run through the one reducer of the package,
:class:`~praison_push.protocol.runs.RunState`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from praison_push.protocol.runs import RunEvent, RunState, RunStatus

__all__ = ["RunPrinter", "status_line", "transcript"]

#: Longest argument or result shown on a tool line.
TOOL_TEXT = 200

#: The richer run events a printer shows on its tool stream.
_NEWS = frozenset(
    {
        RunEvent.REASONING,
        RunEvent.TOOL_CALL_DELTA,
        RunEvent.APPROVAL_REQUEST,
        RunEvent.APPROVAL_RESULT,
    }
)


def shorten(value: Any, limit: int = TOOL_TEXT) -> str:
    """``value`` on one line (JSON unless it is text), cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def status_line(state: RunState) -> str:
    """``✓ demo-weather completed · 10 tokens · 1 tool call · 122 ms`` (or why it failed)."""
    status = state.status or RunStatus.RUNNING.value
    mark = {"completed": "✓", "failed": "✗", "cancelled": "✗"}.get(status, "…")
    parts = [f"{mark} {state.agent_id or 'run'} {status}", _count(state.token_count, "token")]
    if state.tool_calls:
        parts.append(_count(len(state.tool_calls), "tool call"))
    if state.latency_ms is not None:
        parts.append(f"{state.latency_ms:,} ms")
    if state.error:
        message = " ".join(str(state.error.get("message", "")).split())
        parts.append(f"{state.error.get('code', 'UNKNOWN')}: {message}".rstrip(": "))
    return " · ".join(parts)


def tool_line(call: Mapping[str, Any]) -> str:
    """``⚙ name {args} → result`` (``✗ error`` when it failed, ``…`` while it runs,
    ``⏸`` while it waits for an approval, ``✗ denied`` when a person said no)."""
    arguments = call["arguments"] if "arguments" in call else call.get("arguments_text", {})
    line = f"⚙ {call.get('name', '?')} {shorten(arguments)}"
    status = call.get("status")
    if status == "completed":
        return f"{line} → {shorten(call.get('result'))}"
    if status == "failed":
        return f"{line} ✗ {shorten(call.get('error'))}"
    if call.get("approval") == "pending":
        return f"{line} ⏸ waits for approval"
    if call.get("approval") == "denied":
        reason = call.get("approval_reason")
        return f"{line} ✗ denied" + (f": {reason}" if reason else "")
    return f"{line} …"


def transcript(state: RunState) -> str:
    """The whole run as text: status, tool calls, the answer, usage."""
    lines = [status_line(state)]
    lines.extend(tool_line(call) for call in state.tool_calls)
    if state.output:
        lines.append(state.output)
    if state.usage:
        usage = state.usage
        lines.append(
            f"usage: {usage.get('prompt_tokens', '?')} prompt + "
            f"{usage.get('completion_tokens', '?')} completion = "
            f"{usage.get('total_tokens', '?')} tokens"
        )
    return "\n".join(lines)


class RunPrinter:
    """Prints a run as its events arrive: the answer to ``out``, tool lines to ``err``.

    With ``out`` and ``err`` apart (the CLI: stdout and stderr), ``… > answer.txt``
    keeps just the answer; with one stream (``run.show()`` in a terminal) the tool
    lines are put between the answer's lines. ``final=True`` ends with the
    :func:`status_line`.

    Args:
        out: Where the answer goes.
        err: Where tool lines (and the final status) go; ``out`` by default.
        final: Print the status line when the run ends.
    """

    def __init__(self, out: TextIO, err: TextIO | None = None, *, final: bool = False) -> None:
        self._out = out
        self._err = err if err is not None else out
        self._final = final
        self.state = RunState()
        self._printed = False  # any answer text on out
        self._mid_line = False  # out's last line is unfinished
        self._screen_mid_line = False  # ... and no tool line followed it on the same screen
        self._open_tool: Any = None  # the id of a tool line awaiting its result
        self._line: tuple[Any, ...] | None = None  # what the open err line shows

    def show(self, kind: str, data: Mapping[str, Any]) -> None:
        """Print what one event adds."""
        state = self.state
        calls = len(state.tool_calls)
        if not state.apply(kind, data):
            return
        if kind == RunEvent.TOKEN:
            self._write_answer(state.tokens[-1])
        elif kind in _NEWS:
            self._show_news(kind, data)
        elif kind == RunEvent.TOOL:
            call = data.get("tool_call")
            call_id = call.get("id") if isinstance(call, Mapping) else None
            merged = state.tool_call(call_id) if isinstance(call_id, str) and call_id else None
            if merged is None and len(state.tool_calls) > calls:
                merged = state.tool_calls[-1]
            if merged is not None:
                self._show_tool(merged)
        elif kind == RunEvent.COMPLETE and not self._printed:
            self._write_answer(state.output)  # an answer that came without tokens
        if state.done and self._final:
            self.finish()
            self._err.write(status_line(state) + "\n")
            self._err.flush()

    def finish(self) -> None:
        """End the output cleanly (also after Ctrl-C)."""
        self._close_tool()
        if self._mid_line:
            self._out.write("\n")
            self._out.flush()
            self._mid_line = self._screen_mid_line = False

    def _write_answer(self, text: str) -> None:
        if not text:
            return
        self._close_tool()
        self._out.write(text)
        self._out.flush()
        self._printed = True
        self._mid_line = self._screen_mid_line = not text.endswith("\n")

    def _show_news(self, kind: str, data: Mapping[str, Any]) -> None:
        """Reasoning and arguments as they stream, approval requests and their answers."""
        if kind == RunEvent.REASONING:
            self._open_line(("reasoning",), "💭 ")
            self._err.write(" ".join(str(data.get("delta", "")).split("\n")))
        elif kind == RunEvent.TOOL_CALL_DELTA:
            call_id = data.get("tool_call_id")
            self._open_line(("tool", call_id), f"⚙ {data.get('name')} ", tool=call_id)
            self._err.write(str(data.get("delta", "")))
        else:
            self._open_line(("approval",), "")
            name = data.get("name")
            if kind == RunEvent.APPROVAL_REQUEST:
                self._err.write(
                    f"⏸ {name} {shorten(data.get('arguments', {}))} waits for approval "
                    f"({data.get('timeout')} s): praison-push approve "
                    f"{data.get('execution_id')} {data.get('tool_call_id')}\n"
                )
            else:
                approved = data.get("approved") is True
                mark, verdict = ("✓", "approved") if approved else ("✗", "denied")
                reason = f": {data['reason']}" if data.get("reason") else ""
                self._err.write(f"{mark} {name} {verdict}{reason}\n")
            self._line = None
        self._err.flush()

    def _open_line(self, key: tuple[Any, ...], head: str, tool: Any = None) -> None:
        """Continue the err line of ``key``, or end the open one and start it with ``head``."""
        if self._line == key:
            return
        self._close_tool()
        if self._screen_mid_line and self._one_screen():
            self._err.write("\n")
            if self._err is self._out:
                self._mid_line = False
        self._screen_mid_line = False
        self._err.write(head)
        self._line = key
        self._open_tool = tool

    def _one_screen(self) -> bool:
        return self._err is self._out or bool(getattr(self._err, "isatty", bool)())

    def _show_tool(self, call: Mapping[str, Any]) -> None:
        status = call.get("status")
        streamed = self._line == ("tool", call.get("id"))  # its arguments are on the line
        if (status == "calling" and not streamed) or self._open_tool != call.get("id"):
            self._close_tool()
            if self._screen_mid_line and self._one_screen():
                self._err.write("\n")  # both streams on one screen: start a line of its own
                if self._err is self._out:
                    self._mid_line = False
            self._screen_mid_line = False
            self._err.write(f"⚙ {call.get('name')} {shorten(call.get('arguments', {}))}")
            self._open_tool = call.get("id")
            self._line = ("tool", self._open_tool)
        if status == "completed":
            self._err.write(f" → {shorten(call.get('result'))}\n")
            self._open_tool = self._line = None
        elif status == "failed":
            self._err.write(f" ✗ {shorten(call.get('error'))}\n")
            self._open_tool = self._line = None
        self._err.flush()

    def _close_tool(self) -> None:
        if self._open_tool is not None or self._line is not None:
            self._err.write("\n")
            self._err.flush()
            self._open_tool = self._line = None
