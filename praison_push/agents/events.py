"""What an agent yields besides text tokens: tool calls, their results, usage.

An agent streams ``str`` tokens and these objects, in order; the gateway turns
them into ``execution_token`` / ``execution_tool`` events (PROTOCOL.md §4).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentEvent", "ToolCall", "ToolResult", "Usage"]


def _tool_id() -> str:
    return f"tool_{secrets.token_hex(4)}"


@dataclass(frozen=True)
class ToolCall:
    """An agent starts calling a tool (``status: "calling"``)."""

    name: str
    arguments: dict[str, Any] | None = None
    id: str = field(default_factory=_tool_id)


@dataclass(frozen=True)
class ToolResult:
    """A tool call finished: ``result`` on success, ``error`` on failure."""

    call: ToolCall
    result: Any = None
    error: str | None = None

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


AgentEvent = str | ToolCall | ToolResult | Usage
