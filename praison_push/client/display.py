"""How the values users hold show themselves: summary text, HTML and Markdown.

One module for every face of presentation — messages, publish receipts,
presence snapshots, run events and whole runs — so the protocol core and the
run handle stay free of it, and a change of look is made in one place. The
value classes keep thin ``__str__``/``_repr_html_``/``_repr_markdown_`` methods
(IPython looks them up on the object) that call in here.

Everything a user or a peer wrote is escaped: HTML through :func:`html.escape`,
Markdown through code spans and fences longer than any backtick run inside.
This module imports none of the classes it renders (they import it); it reads
them through the small protocols below and :class:`RunState`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from praison_push.protocol import encode_json
from praison_push.protocol.runs import RunState

__all__ = [
    "REPR_OUTPUT_CHARS",
    "event_text",
    "message_html",
    "message_text",
    "presence_html",
    "presence_text",
    "receipt_html",
    "receipt_text",
    "run_html",
    "run_markdown",
    "run_summary",
    "short",
]

#: Output shown by the rich reprs of a run before it is cut (the handle keeps all of it).
REPR_OUTPUT_CHARS = 4_000


class _Presence(Protocol):
    """One presence entry, as :func:`presence_text` reads it."""

    @property
    def client_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def metadata(self) -> dict[str, Any]: ...
    @property
    def channels(self) -> tuple[str, ...]: ...


def short(value: Any, limit: int = 80) -> str:
    """``value`` as one line of text (compact JSON unless a string), cut at ``limit``."""
    text = value if isinstance(value, str) else encode_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- channel messages ------------------------------------------------------------------


def message_text(channel: str, data: Any) -> str:
    """``[channel] data``, short."""
    return f"[{channel}] {short(data)}"


def message_html(channel: str, event_id: str, data: Any) -> str:
    """The channel in code, the data as text, the event id as a tooltip."""
    return (
        f"<code>{html.escape(channel)}</code> "
        f"<span title='event {html.escape(event_id)}'>"
        f"{html.escape(short(data, 400))}</span>"
    )


# --- publish receipts ------------------------------------------------------------------


def receipt_text(channel: str, delivered: int, event_id: str) -> str:
    """One line saying where a publication went."""
    return f"published to {channel}: delivered to {delivered} (event {event_id})"


def receipt_html(
    channel: str, event_id: str, delivered: int, offset: int | None, duplicate: bool
) -> str:
    """A check mark line: channel, how many got it, the offset, and whether it was a repeat."""
    note = " (duplicate: already published)" if duplicate else ""
    position = "" if offset is None else f" · offset {offset}"
    return (
        f"✓ published to <code>{html.escape(channel)}</code> · delivered to "
        f"<b>{delivered}</b>{position}{html.escape(note)} · "
        f"<small>event {html.escape(event_id)}</small>"
    )


# --- presence --------------------------------------------------------------------------


def presence_text(entries: Sequence[_Presence]) -> str:
    """One aligned line per client, or ``nobody present``."""
    if not entries:
        return "nobody present"
    return "\n".join(
        f"{entry.client_id:<24} {entry.status:<10} {short(entry.metadata, 60)}" for entry in entries
    )


def presence_html(entries: Sequence[_Presence]) -> str:
    """A table: client, status, metadata, channels."""
    if not entries:
        return "<i>nobody present</i>"
    rows = "".join(
        "<tr>"
        f"<td><code>{html.escape(entry.client_id)}</code></td>"
        f"<td>{html.escape(entry.status)}</td>"
        f"<td>{html.escape(short(entry.metadata, 120))}</td>"
        f"<td>{html.escape(', '.join(entry.channels))}</td>"
        "</tr>"
        for entry in entries
    )
    return (
        "<table><thead><tr><th>client</th><th>status</th><th>metadata</th>"
        f"<th>channels</th></tr></thead><tbody>{rows}</tbody></table>"
    )


# --- run events and runs ---------------------------------------------------------------


def event_text(
    kind: str,
    status: str | None,
    *,
    token: str | None = None,
    index: int | None = None,
    tool_call: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
    output: str | None = None,
    complete: bool = False,
) -> str:
    """One line for a run event: the token, the tool call, the error or the answer."""
    if token is not None:
        return f"token {index}: {token!r}"
    if tool_call is not None:
        return f"tool {tool_call.get('name')} {tool_call.get('status')}"
    if error is not None:
        return f"{status}: {error.get('code')}: {error.get('message')}"
    if complete:
        return f"completed: {short(output or '', 60)}"
    return kind if status is None else f"{kind} ({status})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run_summary(state: RunState) -> str:
    """``completed, 10 tokens, 1 tool call, 12 ms``."""
    parts = [state.status, _plural(state.token_count, "token")]
    if state.tool_calls:
        parts.append(_plural(len(state.tool_calls), "tool call"))
    if state.latency_ms is not None:
        parts.append(f"{state.latency_ms} ms")
    return ", ".join(parts)


def run_markdown(state: RunState) -> str:
    """The run as Markdown: a summary line, its tool calls, its error, its output."""
    lines = [
        f"**Execution** {_code_span(state.execution_id)} of agent "
        f"{_code_span(state.agent_id or '?')}: {run_summary(state)}",
        "",
    ]
    for call in state.tool_calls:
        line = f"- ⚙ {_code_span(str(call.get('name')))} {_code_span(_call_text(call))}"
        lines.append(f"{line} ({_code_span(str(call.get('status')))})")
    if state.error is not None:
        message = f"{state.error.get('code')}: {state.error.get('message')}"
        lines += ["", f"Error: {_code_span(short(message, 400))}"]
    output = state.output
    if output:
        lines += ["", _code_block(_cut(output))]
    return "\n".join(lines)


def run_html(state: RunState) -> str:
    """The run as HTML: a summary line, its tool calls, its error, its output."""
    escape = html.escape
    rows = [
        f"<b>Execution</b> <code>{escape(state.execution_id)}</code> of agent "
        f"<code>{escape(state.agent_id or '?')}</code>: {escape(run_summary(state))}"
    ]
    if state.tool_calls:
        rows.append(f"<ul>{''.join(_call_items(state.tool_calls))}</ul>")
    if state.error is not None:
        message = f"{state.error.get('code')}: {state.error.get('message')}"
        rows.append(f"<div>Error: <code>{escape(short(message, 400))}</code></div>")
    output = state.output
    if output:
        rows.append(f"<pre style='white-space: pre-wrap'>{escape(_cut(output))}</pre>")
    return f"<div class='praison-push-execution'>{''.join(rows)}</div>"


def _call_items(calls: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    escape = html.escape
    for call in calls:
        yield (
            f"<li>⚙ <code>{escape(str(call.get('name')))}</code> "
            f"<code>{escape(_call_text(call))}</code> ({escape(str(call.get('status')))})</li>"
        )


def _call_text(call: Mapping[str, Any]) -> str:
    """``{args} → result`` of a tool call, shortened for display."""
    text = short(call.get("arguments", {}), 200)
    if "result" in call:
        text += f" → {short(call['result'], 200)}"
    elif "error" in call:
        text += f" ✗ {short(call['error'], 200)}"
    return text


def _cut(text: str) -> str:
    if len(text) <= REPR_OUTPUT_CHARS:
        return text
    return text[:REPR_OUTPUT_CHARS] + f"… ({len(text) - REPR_OUTPUT_CHARS} more characters)"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _code_span(text: str) -> str:
    """``text`` as a Markdown code span: shown literally, whatever it contains."""
    text = text.replace("\n", " ")
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_block(text: str) -> str:
    """``text`` as a fenced Markdown code block longer than any backtick run inside it."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}text\n{text}\n{fence}"
