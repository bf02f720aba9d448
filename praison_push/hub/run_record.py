"""The hub's record of one agent run (the client's view is ``client.Execution``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..agents import AgentContext, Approval, ToolResult, Usage
from ..protocol.runs import RUN_FEED, RunStatus
from .principal import Principal
from .scopes import scoped_name, scoped_run_channel

__all__ = ["RunRecord", "StreamKey"]

_RUNNING = RunStatus.RUNNING.value

#: What a run's queued text belongs to: ``("token",)``, ``("reasoning",)`` or
#: ``("arguments", tool_call_id)`` — text of one key is sent together.
StreamKey = tuple[str, ...]


@dataclass
class RunRecord:
    """The hub's record of one agent run: what it was asked and what it produced so far.

    (The client's view of a run is :class:`praison_push.client.Execution`; this
    is the gateway's bookkeeping, with the agent task, the text waiting to be
    sent and the approval requests waiting for an answer.)
    """

    execution_id: str
    agent_id: str
    input: str
    principal: Principal
    client_id: str | None
    conversation_id: str | None
    context: AgentContext
    started: float
    status: str = _RUNNING
    #: Whether the run's task has started (see :meth:`RunManager.cancel`).
    begun: bool = False
    tokens: int = 0
    chunks: int = 0
    output: list[str] = field(default_factory=list)
    usage: Usage | None = None
    task: asyncio.Task[None] | None = None
    #: Text not sent yet, all of one :data:`StreamKey`.
    pending: list[str] = field(default_factory=list)
    pending_key: StreamKey | None = None
    last_flush: float = float("-inf")
    flush_timer: asyncio.TimerHandle | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Tool names learnt from argument deltas (a model names a call once, in its first delta).
    tool_names: dict[str, str] = field(default_factory=dict)
    #: The latest tool result, when it failed (an agent that then raises gave up on it).
    failed_tool: ToolResult | None = None
    #: Approval requests waiting for an answer, by tool call id.
    approvals: dict[str, asyncio.Future[Approval]] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status == _RUNNING

    @property
    def channel(self) -> str:
        """The run's internal channel (scoped to the requester's org, or user, if any)."""
        return scoped_run_channel(self.execution_id, self.principal.scope)

    @property
    def feed(self) -> str:
        """The internal run feed this run also publishes on."""
        return scoped_name(RUN_FEED, self.principal.scope)
