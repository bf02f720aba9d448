"""The run vocabulary: event names, statuses, error codes, run channels, and the reducer.

Every layer that reads or writes agent runs (PROTOCOL.md §4) takes its words
from here — the gateway that publishes run events, the dialect and SSE
translators, the client's run handle, the notebook widgets and the CLI printer —
so a name or the set of events that end a run is written exactly once.

:class:`RunState` is the pure reducer over a run's events: feed it each
event's kind and data in order and it holds what the run produced so far
(tokens, reasoning, tool calls upserted by id with their streamed arguments,
approvals asked and answered, usage, status, output, error). It reads no clock
and does no I/O, so it is tested with plain dicts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = [
    "RUN_CHANNEL_PREFIX",
    "RUN_FEED",
    "TERMINAL_EVENTS",
    "TERMINAL_STATUSES",
    "ApprovalStatus",
    "RunErrorCode",
    "RunEvent",
    "RunState",
    "RunStatus",
    "ToolStatus",
    "execution_id_of",
    "is_run_channel",
    "is_run_feed",
    "run_channel",
    "run_event",
]


class RunEvent(str, enum.Enum):
    """The ``data.event`` of a run's publications (PROTOCOL.md §4)."""

    START = "execution_start"
    TOKEN = "execution_token"
    TOOL = "execution_tool"
    TOOL_CALL_DELTA = "execution_tool_call_delta"
    """A tool call's argument text as the model streams it: ``tool_call_id, name?, delta``."""
    REASONING = "execution_reasoning"
    """Reasoning (thinking) text the model streams besides its answer: ``delta``."""
    APPROVAL_REQUEST = "execution_approval_request"
    """The run waits for a person: ``tool_call_id, name, arguments, timeout``."""
    APPROVAL_RESULT = "execution_approval_result"
    """The answer to an approval request: ``tool_call_id, name, approved, reason?, timed_out?``."""
    COMPLETE = "execution_complete"
    ERROR = "execution_error"


#: The events after which a run publishes nothing more.
TERMINAL_EVENTS: frozenset[str] = frozenset({RunEvent.COMPLETE.value, RunEvent.ERROR.value})


class RunStatus(str, enum.Enum):
    """A run's ``status``."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The statuses of a run that has ended.
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value}
)


class ToolStatus(str, enum.Enum):
    """A ``tool_call``'s ``status`` (PROTOCOL.md §4)."""

    STREAMING = "streaming"
    """Client-side only: the call is known from its argument deltas so far."""
    CALLING = "calling"
    COMPLETED = "completed"
    FAILED = "failed"


class ApprovalStatus(str, enum.Enum):
    """Where an approval request stands (:attr:`RunState.approvals`)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class RunErrorCode(str, enum.Enum):
    """``error.code`` of an ``execution_error`` (PROTOCOL.md §4)."""

    AGENT_FAILED = "AGENT_FAILED"
    """The agent raised."""
    CANCELLED = "CANCELLED"
    """The requester (or the gateway's shutdown) cancelled the run."""
    TOOL_EXECUTION_FAILED = "TOOL_EXECUTION_FAILED"
    """A tool the agent relied on failed, and the agent gave up."""
    EXECUTION_LOST = "EXECUTION_LOST"
    """Client-side: the gateway no longer holds the run (its history is gone)."""
    UNKNOWN = "UNKNOWN"
    """An ``execution_error`` that named no code."""
    MODEL_UNAUTHORIZED = "MODEL_UNAUTHORIZED"
    """The model server refused the agent's credentials (HTTP 401/403)."""
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    """The model server has no such model or route (HTTP 404)."""
    RATE_LIMITED = "RATE_LIMITED"
    """The model server is rate limiting (HTTP 429); ``details.retry_after`` when it said."""
    MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
    """The model server failed or could not be reached (HTTP 5xx, connection refused)."""
    MODEL_TIMEOUT = "MODEL_TIMEOUT"
    """The model server did not answer in time."""
    MODEL_ERROR = "MODEL_ERROR"
    """The model server answered something unusable (another HTTP error, a malformed stream)."""


#: The shared feed every run also publishes on (scoped to the requester's org).
RUN_FEED = "executions"
#: What a run's own channel name starts with: ``executions:<execution_id>``.
RUN_CHANNEL_PREFIX = "executions:"


def run_channel(execution_id: str) -> str:
    """The channel carrying one run's events."""
    return RUN_CHANNEL_PREFIX + execution_id


def _base(name: str) -> str:
    """A channel name without its organisation scope (``name#org``)."""
    return name.partition("#")[0]


def is_run_channel(name: str) -> bool:
    """Whether ``name`` is a run's own channel (org scope suffix allowed)."""
    base = _base(name)
    return base.startswith(RUN_CHANNEL_PREFIX) and len(base) > len(RUN_CHANNEL_PREFIX)


def is_run_feed(name: str) -> bool:
    """Whether ``name`` is the run feed (org scope suffix allowed)."""
    return _base(name) == RUN_FEED


def execution_id_of(name: str) -> str | None:
    """The execution id a run channel names, or ``None`` for any other channel."""
    if not is_run_channel(name):
        return None
    return _base(name)[len(RUN_CHANNEL_PREFIX) :]


def run_event(data: Any) -> tuple[str, Mapping[str, Any]] | None:
    """``(kind, data)`` when a publication's ``data`` is a run event, else ``None``."""
    if isinstance(data, Mapping):
        kind = data.get("event")
        if isinstance(kind, str):
            return kind, data
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


class RunState:
    """What a run has produced, rebuilt from its events in order (a pure reducer).

    Attributes:
        execution_id: The run's id (learnt from the events when not given).
        agent_id: The agent that runs (likewise).
        status: ``""`` until an event says, then a :class:`RunStatus` value.
        tokens: The streamed text, one entry per ``execution_token`` event.
        token_count: Agent tokens received (an event's ``count``, 1 when absent).
        tool_calls: One dict per tool call in the order they started, updated
            in place by later events with the same ``id``. Argument deltas
            accumulate in its ``arguments_text`` (status ``"streaming"`` until
            the call's own event); an approval request sets its ``approval``
            (an :class:`ApprovalStatus` value) and ``approval_reason``.
        reasoning: The reasoning text, one entry per ``execution_reasoning`` event.
        approvals: Every approval request by ``tool_call_id``:
            ``{tool_call_id, name, arguments, timeout, status, reason?, timed_out?}``.
        usage: ``{prompt_tokens, completion_tokens, total_tokens}`` once completed.
        latency_ms: The gateway's measure of the run's duration, once completed.
        error: ``{code, message, details?}`` once failed or cancelled.
        final_output: The ``output`` of ``execution_complete``.
    """

    __slots__ = (
        "_next_index",
        "_tools",
        "agent_id",
        "approvals",
        "error",
        "execution_id",
        "final_output",
        "latency_ms",
        "reasoning",
        "status",
        "token_count",
        "tokens",
        "tool_calls",
        "usage",
    )

    def __init__(self, execution_id: str = "", agent_id: str = "", status: str = "") -> None:
        self.execution_id = execution_id
        self.agent_id = agent_id
        self.status = status
        self.tokens: list[str] = []
        self.token_count = 0
        self.tool_calls: list[dict[str, Any]] = []
        self.reasoning: list[str] = []
        self.approvals: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.latency_ms: int | None = None
        self.error: dict[str, Any] | None = None
        self.final_output: str | None = None
        self._tools: dict[str, dict[str, Any]] = {}
        self._next_index = 0

    def __repr__(self) -> str:
        return (
            f"<RunState {self.execution_id or '?'} {self.status or 'waiting'} "
            f"tokens={self.token_count} tools={len(self.tool_calls)}>"
        )

    @property
    def done(self) -> bool:
        """Whether the run has ended."""
        return self.status in TERMINAL_STATUSES

    @property
    def reasoning_text(self) -> str:
        """The reasoning streamed so far."""
        return "".join(self.reasoning)

    @property
    def pending_approvals(self) -> list[dict[str, Any]]:
        """The approval requests still waiting for an answer, oldest first."""
        pending = ApprovalStatus.PENDING.value
        return [request for request in self.approvals.values() if request["status"] == pending]

    @property
    def output(self) -> str:
        """The answer so far: the streamed tokens, then the final output once completed."""
        if self.final_output is not None:
            return self.final_output
        return "".join(self.tokens)

    def apply(self, kind: str, data: Mapping[str, Any]) -> bool:
        """Apply one event; ``False`` when it changed nothing.

        Ignored: any event after the run ended, a token whose ``index`` was
        applied already (a replay overlapping the live stream), and kinds this
        version does not know (kept by callers for forward compatibility).
        """
        if self.done:
            return False
        self._identify(data)
        if kind == RunEvent.TOKEN:
            return self._token(data)
        if kind == RunEvent.START:
            self.status = RunStatus.RUNNING.value
        elif kind == RunEvent.TOOL:
            return self._tool(data.get("tool_call"))
        elif kind == RunEvent.TOOL_CALL_DELTA:
            return self._tool_delta(data)
        elif kind == RunEvent.REASONING:
            delta = data.get("delta")
            if not isinstance(delta, str):
                return False
            self.reasoning.append(delta)
        elif kind == RunEvent.APPROVAL_REQUEST:
            return self._approval_request(data)
        elif kind == RunEvent.APPROVAL_RESULT:
            return self._approval_result(data)
        elif kind == RunEvent.COMPLETE:
            self._complete(data)
        elif kind == RunEvent.ERROR:
            status = data.get("status")
            cancelled = status == RunStatus.CANCELLED
            self.status = (RunStatus.CANCELLED if cancelled else RunStatus.FAILED).value
            error = data.get("error")
            self.error = (
                dict(error)
                if isinstance(error, Mapping)
                else {"code": RunErrorCode.UNKNOWN.value, "message": ""}
            )
        else:
            return False
        return True

    def _identify(self, data: Mapping[str, Any]) -> None:
        execution_id, agent_id = data.get("execution_id"), data.get("agent_id")
        if not self.execution_id and isinstance(execution_id, str):
            self.execution_id = execution_id
        if not self.agent_id and isinstance(agent_id, str):
            self.agent_id = agent_id

    def _token(self, data: Mapping[str, Any]) -> bool:
        token = data.get("token")
        if not isinstance(token, str):
            return False
        index = _int(data.get("index"))
        if index is not None:
            if index < self._next_index:
                return False
            self._next_index = index + 1
        count = _int(data.get("count", 1))
        self.tokens.append(token)
        self.token_count += count if count is not None and count > 0 else 1
        if not self.status:
            self.status = RunStatus.RUNNING.value
        return True

    def _tool(self, call: Any) -> bool:
        if not isinstance(call, Mapping):
            return False
        key = call.get("id")
        key = key if isinstance(key, str) and key else f"#{len(self.tool_calls)}"
        known = self._tools.get(key)
        if known is None:
            self._tools[key] = known = {}
            self.tool_calls.append(known)
        known.update(call)
        return True

    def _call(self, key: str, name: Any) -> dict[str, Any]:
        """The tool call ``key``, made (``"streaming"``) when this is its first word."""
        known = self._tools.get(key)
        if known is None:
            self._tools[key] = known = {"id": key, "status": ToolStatus.STREAMING.value}
            self.tool_calls.append(known)
        if isinstance(name, str) and name and not known.get("name"):
            known["name"] = name
        return known

    def _tool_delta(self, data: Mapping[str, Any]) -> bool:
        key, delta = data.get("tool_call_id"), data.get("delta")
        if not isinstance(key, str) or not key or not isinstance(delta, str):
            return False
        call = self._call(key, data.get("name"))
        call["arguments_text"] = call.get("arguments_text", "") + delta
        return True

    def _approval_request(self, data: Mapping[str, Any]) -> bool:
        key = data.get("tool_call_id")
        if not isinstance(key, str) or not key:
            return False
        pending = ApprovalStatus.PENDING.value
        request = {
            "tool_call_id": key,
            "name": data.get("name"),
            "arguments": data.get("arguments"),
            "timeout": data.get("timeout"),
            "status": pending,
        }
        self.approvals[key] = request
        call = self._call(key, data.get("name"))
        call["approval"] = pending
        if data.get("arguments") is not None:
            call.setdefault("arguments", data.get("arguments"))
        return True

    def _approval_result(self, data: Mapping[str, Any]) -> bool:
        key = data.get("tool_call_id")
        request = self.approvals.get(key) if isinstance(key, str) else None
        if request is None or not isinstance(key, str):
            return False
        approved = data.get("approved") is True
        status = (ApprovalStatus.APPROVED if approved else ApprovalStatus.DENIED).value
        reason = data.get("reason")
        request["status"] = status
        request["reason"] = reason if isinstance(reason, str) else None
        if data.get("timed_out") is True:
            request["timed_out"] = True
        call = self._call(key, request.get("name"))
        call["approval"] = status
        call["approval_reason"] = request["reason"]
        return True

    def tool_call(self, call_id: str) -> dict[str, Any] | None:
        """The tool call with ``id`` ``call_id``, as it stands."""
        return self._tools.get(call_id)

    def _complete(self, data: Mapping[str, Any]) -> None:
        status = data.get("status")
        self.status = status if status in TERMINAL_STATUSES else RunStatus.COMPLETED.value
        output = data.get("output")
        self.final_output = output if isinstance(output, str) else "".join(self.tokens)
        usage = data.get("usage")
        self.usage = dict(usage) if isinstance(usage, Mapping) else None
        latency = data.get("latency_ms")
        if isinstance(latency, (int, float)) and not isinstance(latency, bool):
            self.latency_ms = round(latency)
