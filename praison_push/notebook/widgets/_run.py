"""From a run's events (PROTOCOL.md §4) to widget parts.

Shared by :class:`TokenStream`, :class:`ToolCalls` and :class:`ExecutionView`,
which show the same run in different ways. What a run *is* — its tokens, tool
calls, status, usage and output — comes from the one reducer of the package,
:class:`praison_push.protocol.runs.RunState`; the trackers here only add what a
widget needs on top (timing, rates, display rows) and turn the reducer's state
into parts. They know nothing of widgets or threads (the widget holds its lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from praison_push.protocol.runs import RunEvent, RunState, RunStatus

from ._format import count, escape, millis, rate
from ._parts import MetaPart, RowsPart, TextPart
from ._sources import compact

__all__ = ["RunTracker", "ToolTracker"]

#: Seconds of streaming before a live tokens-per-second figure is shown.
MIN_RATE_SPAN = 0.1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def error_text(error: Mapping[str, Any] | None) -> str | None:
    """``CODE: message`` of a run's error, for a status line."""
    if error is None:
        return None
    text = ": ".join(str(part) for part in (error.get("code"), error.get("message")) if part)
    return text or "failed"


class RunTracker:
    """The streamed text and the run's facts: agent, status, token count, rate, latency.

    ``meta`` keys: ``execution_id``, ``agent``, ``status`` (``""`` until known,
    then ``running``/``completed``/``failed``/``cancelled``), ``tokens``,
    ``tokens_per_s``, ``latency_ms``, ``usage``, ``error``.

    Args:
        state: The reducer to feed (a fresh one by default).
    """

    def __init__(self, state: RunState | None = None) -> None:
        self.state = state if state is not None else RunState()
        self.text = TextPart()
        #: Reasoning ("thinking") text, shown folded by :class:`ExecutionView`.
        self.reasoning = TextPart()
        self.meta = MetaPart(
            execution_id="",
            agent="",
            status="",
            tokens=0,
            tokens_per_s=None,
            latency_ms=None,
            usage=None,
            error=None,
        )
        self._started: float | None = None
        self._last_token: float | None = None

    @property
    def tokens(self) -> int:
        """Agent tokens received (chunks count for as many tokens as they carry)."""
        return self.state.token_count

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.state.done

    def describe(self, execution: Any) -> None:
        """Take what a run handle already knows (its id, agent, status) before any event."""
        state = self.state
        execution_id = getattr(execution, "execution_id", None)
        agent_id = getattr(execution, "agent_id", None)
        if not state.execution_id and isinstance(execution_id, str):
            state.execution_id = execution_id
        if not state.agent_id and isinstance(agent_id, str):
            state.agent_id = agent_id
        if not state.status and getattr(execution, "status", None) == RunStatus.RUNNING:
            state.status = RunStatus.RUNNING.value
        self._sync_meta()

    def handle(self, kind: str, data: Mapping[str, Any], when: float) -> None:
        """Apply one event; ``when`` is its publication time (seconds since the epoch)."""
        if not self.state.apply(kind, data):
            return
        if kind == RunEvent.TOKEN:
            if self._started is None:
                self._started = when
            self._last_token = when
            self.text.append(self.state.tokens[-1])
        elif kind == RunEvent.REASONING:
            self.reasoning.append(self.state.reasoning[-1])
        elif kind == RunEvent.START:
            self._started = when
        elif kind == RunEvent.COMPLETE and self.state.output != self.text.value:
            self.text.replace(self.state.output)  # tokens were missed: the output is the truth
        self._sync_meta()

    def _sync_meta(self) -> None:
        state = self.state
        self.meta.update(
            execution_id=state.execution_id,
            agent=state.agent_id,
            status=state.status,
            usage=None if state.usage is None else dict(state.usage),
            latency_ms=state.latency_ms,
            error=error_text(state.error),
        )

    def rate(self) -> float | None:
        """Tokens per second, or ``None`` while too early to tell.

        Over the whole run (its latency) once completed; while it runs, from
        its start to the latest token, once that spans long enough
        (:data:`MIN_RATE_SPAN`) to mean something.
        """
        latency = _number(self.state.latency_ms)
        if latency:
            return round(self.tokens / (latency / 1000), 1)
        if self._started is not None and self._last_token is not None:
            elapsed = self._last_token - self._started
            if elapsed >= MIN_RATE_SPAN:
                return round(self.tokens / elapsed, 1)
        return None

    def refresh(self) -> None:
        """Bring the counters in ``meta`` up to date (once per delta, not per token)."""
        self.meta.update(tokens=self.tokens, tokens_per_s=self.rate())

    def summary(self) -> str:
        """One status line, as the front end shows it."""
        meta = self.meta
        parts = [str(meta["agent"] or "run"), str(meta["status"] or "waiting")]
        parts.append(count(self.tokens, "token"))
        per_second = self.rate()
        if per_second is not None:
            parts.append(rate(per_second))
        if meta["latency_ms"] is not None:
            parts.append(millis(meta["latency_ms"]))
        if meta["error"]:
            parts.append(str(meta["error"]))
        return " · ".join(parts)

    def usage_text(self) -> str:
        """``usage: 5 prompt + 12 completion = 17 tokens``, once completed."""
        usage = self.meta["usage"]
        if not usage:
            return ""
        parts = [usage.get(key, "?") for key in ("prompt_tokens", "completion_tokens")]
        total = usage.get("total_tokens", "?")
        return f"usage: {parts[0]} prompt + {parts[1]} completion = {total} tokens"

    def html_head(self) -> str:
        """The status line as HTML (red when the run failed)."""
        failed = self.meta["status"] in ("failed", "cancelled")
        style = " style='color:#cf222e'" if failed else ""
        return f"<div{style}><b>{escape(self.summary())}</b></div>"

    def html_text(self, limit: int) -> str:
        """The streamed text as a preformatted block (its last ``limit`` characters)."""
        text = self.text.value
        if not text:
            return ""
        if len(text) > limit:
            text = "…" + text[-limit:]
        return f"<pre style='white-space:pre-wrap'>{escape(text)}</pre>"


#: Events besides ``execution_tool`` that change a tool call's row.
_ROW_EVENTS = frozenset(
    {RunEvent.TOOL_CALL_DELTA, RunEvent.APPROVAL_REQUEST, RunEvent.APPROVAL_RESULT}
)


class ToolTracker:
    """One row per tool call: name, arguments, status, result, duration, approval.

    Rows: ``id``, ``name``, ``arguments`` (compact JSON; while the model still
    streams them, the raw text so far), ``status`` (``streaming``, ``waiting``
    for an approval, then ``calling``/``completed``/``failed``), ``result``
    (text, cut at :data:`~._sources.MAX_TEXT`), ``duration_ms`` (the agent's
    measure when it sent one, else from ``calling`` to the outcome, measured
    kernel-side from the events' publication times), ``approval`` (``""``, or
    ``pending``/``approved``/``denied`` once the agent asked) and ``approval_note``.

    Args:
        state: A reducer that another tracker feeds already (the tool calls are
            read from it); ``None``: this tracker feeds a reducer of its own.
    """

    def __init__(self, state: RunState | None = None) -> None:
        self._feeds = state is None
        self.state = state if state is not None else RunState()
        self.rows = RowsPart()
        self._began: dict[str, float] = {}

    def handle(self, kind: str, data: Mapping[str, Any], when: float) -> None:
        """Apply one event (tool calls, their argument deltas and approvals make rows)."""
        if kind != RunEvent.TOOL:
            if self._feeds and not self.state.apply(kind, data):
                return
            key = data.get("tool_call_id")
            if kind in _ROW_EVENTS and isinstance(key, str) and key:
                call = self.state.tool_call(key)
                if call is not None:
                    self.rows.upsert(self._row(key, call, when))
            return
        count = len(self.state.tool_calls)
        if self._feeds and not self.state.apply(kind, data):
            return
        calls = self.state.tool_calls
        announced = data.get("tool_call")
        call_id = announced.get("id") if isinstance(announced, Mapping) else None
        if isinstance(call_id, str) and call_id:
            key, call = call_id, self.state.tool_call(call_id)
        elif len(calls) > count:  # an id-less call: the reducer gave it a row of its own
            key, call = f"#{len(calls) - 1}", calls[-1]
        else:
            return
        if call is None:
            return
        self.rows.upsert(self._row(key, call, when))

    def _row(self, key: str, call: Mapping[str, Any], when: float) -> dict[str, Any]:
        approval = str(call.get("approval") or "")
        status = str(call.get("status") or "calling")
        if approval == "pending" and status == "streaming":
            status = "waiting"  # for a person, before it may run
        elif approval == "denied" and status == "streaming":
            status = "failed"  # it never runs
        outcome = call["result"] if "result" in call else call.get("error", "")
        if "arguments" in call:
            arguments = compact(call["arguments"])
        else:
            arguments = str(call.get("arguments_text", ""))
        row: dict[str, Any] = {
            "id": key,
            "name": str(call.get("name", "?")),
            "arguments": arguments,
            "status": status,
            "result": compact(outcome) if outcome not in (None, "") else "",
            "approval": approval,
            "approval_note": self._note(key, call),
        }
        measured = _number(call.get("duration_ms"))
        if status == "calling":
            self._began.setdefault(key, when)
            row["duration_ms"] = None
        elif measured is not None:
            row["duration_ms"] = round(measured)  # the agent's own measure
        elif status in ("completed", "failed"):
            began = self._began.get(key)
            kept = self.rows.get(key)
            row["duration_ms"] = (
                max(0, round((when - began) * 1000))
                if began is not None
                else (kept or {}).get("duration_ms")
            )
        else:
            row["duration_ms"] = None
        return row

    def _note(self, key: str, call: Mapping[str, Any]) -> str:
        """Why an approval went as it did, or how long it may wait."""
        request = self.state.approvals.get(key)
        if request is None:
            return ""
        if request.get("status") == "pending":
            timeout = _number(request.get("timeout"))
            return "" if timeout is None else f"answer within {timeout:g} s"
        if request.get("reason"):
            return str(request["reason"])
        return "no answer in time" if request.get("timed_out") else ""

    def pending(self) -> list[str]:
        """The ids of the calls waiting for an approval."""
        return [row["id"] for row in self.rows.rows if row.get("approval") == "pending"]

    def html(self) -> str:
        """The calls as an HTML table (empty without calls)."""
        rows = self.rows.rows
        if not rows:
            return ""
        body = "".join(
            "<tr>"
            f"<td>{escape(row['name'])}</td>"
            f"<td><code>{escape(row['arguments'][:500])}</code></td>"
            f"<td>{escape(row['status'])}</td>"
            f"<td><code>{escape(row['result'][:500])}</code></td>"
            f"<td>{'' if row.get('duration_ms') is None else millis(row['duration_ms'])}</td>"
            "</tr>"
            for row in rows
        )
        return (
            "<table><thead><tr><th>Tool</th><th>Arguments</th><th>Status</th><th>Result</th>"
            f"<th>Duration</th></tr></thead><tbody>{body}</tbody></table>"
        )

    def lines(self) -> list[str]:
        """One text line per call, for the plain-text repr."""
        out = []
        for row in self.rows.rows:
            duration = "" if row.get("duration_ms") is None else f" {millis(row['duration_ms'])}"
            result = f" → {row['result'][:80]}" if row.get("result") else ""
            approval = f" [{row['approval']}]" if row.get("approval") else ""
            out.append(
                f"⚙ {row['name']}({row['arguments']}) {row['status']}{approval}{duration}{result}"
            )
        return out
