"""What an agent knows about the run it is in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentContext"]


@dataclass
class AgentContext:
    """Passed to agents that accept a second argument.

    Attributes:
        execution_id: This run's id.
        agent_id: The registered name of the agent.
        session_id: The conversation the run belongs to, if any.
        user_id: Who asked, when the gateway knows.
        org_id: The asker's organisation, when known.
        history: Earlier ``{"role", "content"}`` turns of the session.
    """

    execution_id: str
    agent_id: str
    session_id: str | None = None
    user_id: str | None = None
    org_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    _cancelled: bool = field(default=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled; long-running sync agents should check it."""
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True
