"""From a run's events (PROTOCOL.md §4) to widget parts.

Shared by :class:`TokenStream`, :class:`ToolCalls` and :class:`ExecutionView`,
which show the same run in different ways; each tracker owns the parts it
fills and knows nothing of widgets or threads (the widget holds its lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._parts import MetaPart, RowsPart, TextPart
from ._sources import compact

__all__ = ["TERMINAL", "RunTracker", "ToolTracker"]

#: The events after which a run sends nothing more.
TERMINAL = frozenset({"execution_complete", "execution_error"})
#: Seconds of streaming before a live tokens-per-second figure is shown.
MIN_RATE_SPAN = 0.1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class RunTracker:
    """The streamed text and the run's facts: agent, status, token count, rate, latency.

    ``meta`` keys: ``execution_id``, ``agent``, ``status`` (``""`` until known,
    then ``running``/``completed``/``failed``/``cancelled``), ``tokens``,
    ``tokens_per_s``, ``latency_ms``, ``usage``, ``error``.
    """

    def __init__(self) -> None:
        self.text = TextPart()
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
        self.tokens = 0
        self._next_index = 0
        self._started: float | None = None
        self._last_token: float | None = None

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return str(self.meta["status"]) in ("completed", "failed", "cancelled")

    def describe(self, execution: Any) -> None:
        """Take what a run handle already knows (its id, agent, status) before any event."""
        fields: dict[str, Any] = {}
        for attribute, key in (("execution_id", "execution_id"), ("agent_id", "agent")):
            value = getattr(execution, attribute, None)
            if isinstance(value, str) and value:
                fields[key] = value
        status = getattr(execution, "status", None)
        if status == "running":
            fields["status"] = status
        self.meta.update(**fields)

    def handle(self, kind: str, data: Mapping[str, Any], when: float) -> None:
        """Apply one event; ``when`` is its publication time (seconds since the epoch)."""
        if kind == "execution_token":
            self._token(data, when)
            return
        execution_id = data.get("execution_id")
        agent = data.get("agent_id")
        if isinstance(execution_id, str) and execution_id:
            self.meta.update(execution_id=execution_id)
        if isinstance(agent, str) and agent:
            self.meta.update(agent=agent)
        if kind == "execution_start":
            self._started = when
            self.meta.update(status="running")
        elif kind == "execution_complete":
            output = data.get("output")
            if isinstance(output, str) and output != self.text.value:
                self.text.replace(output)  # tokens were missed: the output is the truth
            usage = data.get("usage")
            latency = _number(data.get("latency_ms"))
            self.meta.update(
                status="completed",
                usage=dict(usage) if isinstance(usage, Mapping) else None,
                latency_ms=None if latency is None else round(latency),
            )
        elif kind == "execution_error":
            status = data.get("status")
            error = data.get("error")
            message = ""
            if isinstance(error, Mapping):
                code, text = error.get("code"), error.get("message")
                message = ": ".join(str(p) for p in (code, text) if p)
            self.meta.update(
                status=status if status in ("failed", "cancelled") else "failed",
                error=message or "failed",
            )

    def _token(self, data: Mapping[str, Any], when: float) -> None:
        token = data.get("token")
        if not isinstance(token, str):
            return
        index = data.get("index")
        if isinstance(index, int) and not isinstance(index, bool):
            if index < self._next_index:
                return  # already shown (a replay overlapping the live stream)
            self._next_index = index + 1
        if self._started is None:
            self._started = when
        self._last_token = when
        # A fast agent's tokens come in chunks; ``count`` says how many (PROTOCOL.md §8).
        count = data.get("count", 1)
        self.tokens += count if isinstance(count, int) and count > 0 else 1
        self.text.append(token)
        if not self.meta["status"]:
            self.meta.update(status="running")

    def rate(self) -> float | None:
        """Tokens per second, or ``None`` while too early to tell.

        Over the whole run (its latency) once completed; while it runs, from
        its start to the latest token, once that spans long enough
        (:data:`MIN_RATE_SPAN`) to mean something.
        """
        latency = _number(self.meta["latency_ms"])
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
        parts.append(f"{self.tokens} token{'' if self.tokens == 1 else 's'}")
        rate = self.rate()
        if rate is not None:
            parts.append(f"{rate} tok/s")
        if meta["latency_ms"] is not None:
            parts.append(f"{meta['latency_ms']} ms")
        if meta["error"]:
            parts.append(str(meta["error"]))
        return " · ".join(parts)


class ToolTracker:
    """One row per tool call: name, arguments, status, result, duration.

    Rows: ``id``, ``name``, ``arguments`` (compact JSON), ``status``
    (``calling``/``completed``/``failed``), ``result`` (text, cut at
    :data:`~._sources.MAX_TEXT`), ``duration_ms`` (from ``calling`` to the
    outcome, measured kernel-side from the events' publication times).
    """

    def __init__(self) -> None:
        self.rows = RowsPart()
        self._began: dict[str, float] = {}

    def handle(self, kind: str, data: Mapping[str, Any], when: float) -> None:
        """Apply one event (only ``execution_tool`` matters here)."""
        if kind != "execution_tool":
            return
        call = data.get("tool_call")
        if not isinstance(call, Mapping):
            return
        call_id = call.get("id")
        key = call_id if isinstance(call_id, str) and call_id else f"#{len(self.rows)}"
        status = str(call.get("status") or "calling")
        row: dict[str, Any] = {"id": key, "status": status}
        if "name" in call:
            row["name"] = str(call["name"])
        if "arguments" in call:
            row["arguments"] = compact(call["arguments"])
        if "result" in call:
            row["result"] = compact(call["result"])
        elif "error" in call:
            row["result"] = compact(call["error"])
        if key not in self.rows:
            row.setdefault("name", "?")
            row.setdefault("arguments", "")
            row.setdefault("result", "")
            row["duration_ms"] = None
        if status == "calling":
            self._began.setdefault(key, when)
        else:
            began = self._began.get(key)
            if began is not None:
                row["duration_ms"] = max(0, round((when - began) * 1000))
        self.rows.upsert(row)

    def lines(self) -> list[str]:
        """One text line per call, for the plain-text repr."""
        out = []
        for row in self.rows.rows:
            duration = "" if row.get("duration_ms") is None else f" {row['duration_ms']} ms"
            result = f" → {row['result'][:80]}" if row.get("result") else ""
            out.append(f"⚙ {row['name']}({row['arguments']}) {row['status']}{duration}{result}")
        return out
