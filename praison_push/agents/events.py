"""What an agent yields besides text tokens: tool calls, their results, usage, and more.

An agent streams ``str`` tokens and these objects, in order; the gateway turns
them into run events (PROTOCOL.md §4): ``execution_token``, ``execution_tool``,
``execution_tool_call_delta``, ``execution_reasoning``. :class:`AgentError`
is what an agent raises to end its run with a code of its own, and
:class:`Approval` what a person answered when the agent asked
(:meth:`~.context.AgentContext.request_approval`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from ..protocol.runs import RunErrorCode

__all__ = [
    "AgentError",
    "AgentEvent",
    "Approval",
    "Reasoning",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
    "Usage",
]


def _tool_id() -> str:
    return f"tool_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class ToolCall:
    """An agent starts calling a tool (``status: "calling"``)."""

    name: str
    arguments: dict[str, Any] | None = None
    id: str = field(default_factory=_tool_id)


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call's argument text, as the model streams it.

    Yield them before the :class:`ToolCall` with the same ``id``; watchers see
    the arguments grow (``execution_tool_call_delta``).
    """

    id: str
    delta: str
    name: str | None = None


@dataclass(frozen=True)
class Reasoning:
    """A piece of reasoning ("thinking") text, shown apart from the answer."""

    delta: str


@dataclass(frozen=True)
class ToolResult:
    """A tool call finished: ``result`` on success, ``error`` on failure.

    Attributes:
        duration_ms: How long the tool ran, when the agent measured it.
    """

    call: ToolCall
    result: Any = None
    error: str | None = None
    duration_ms: float | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error is not None else "completed"


@dataclass(frozen=True)
class Usage:
    """Token counts an agent reports for its run."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Approval:
    """A person's answer to an approval request (or the timeout's: a denial).

    Attributes:
        approved: Whether the tool may run.
        reason: Why, when the person said (or why it timed out).
        timed_out: Nobody answered in time.
    """

    approved: bool
    reason: str | None = None
    timed_out: bool = False


class AgentError(Exception):
    """Raised by an agent to end its run with ``code`` (not ``AGENT_FAILED``).

    Args:
        code: A :class:`~praison_push.protocol.runs.RunErrorCode`.
        message: What went wrong, for a person (no secrets: it reaches every watcher).
        details: Extra fields for ``error.details`` (e.g. ``retry_after``).
    """

    def __init__(
        self, code: RunErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


AgentEvent = str | ToolCall | ToolCallDelta | Reasoning | ToolResult | Usage
