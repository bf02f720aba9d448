"""What an agent knows about the run it is in, and how it asks a person for approval."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .events import Approval, ToolCall

__all__ = ["AgentContext", "Approver"]

#: ``(call, timeout) -> Approval``: how the gateway asks (installed by the hub per run).
Approver = Callable[[ToolCall, "float | None"], Awaitable[Approval]]

_NO_GATEWAY = "nobody can approve: the run is not served by a gateway"


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
        approver: Set by the gateway: publishes an approval request and waits
            for its answer (see :meth:`request_approval`).
        loop: The gateway's event loop (for :meth:`request_approval_blocking`).
    """

    execution_id: str
    agent_id: str
    session_id: str | None = None
    user_id: str | None = None
    org_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    approver: Approver | None = field(default=None, repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _cancelled: bool = field(default=False, repr=False)

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled; long-running sync agents should check it."""
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True

    async def request_approval(self, call: ToolCall, *, timeout: float | None = None) -> Approval:
        """Pause the run until a person approves or denies ``call``.

        The gateway publishes ``execution_approval_request`` and waits for the
        requester (or a configured approver) to answer; no answer within
        ``timeout`` seconds (the gateway's ``RunsConfig.approval_timeout`` when
        ``None``) is a denial. Outside a gateway nobody can answer: denied.
        """
        if self.approver is None:
            return Approval(False, _NO_GATEWAY)
        return await self.approver(call, timeout)

    def request_approval_blocking(
        self, call: ToolCall, *, timeout: float | None = None
    ) -> Approval:
        """:meth:`request_approval` for a synchronous agent on a worker thread.

        Raises:
            concurrent.futures.CancelledError: The run was cancelled while waiting.
        """
        if self.approver is None or self.loop is None:
            return Approval(False, _NO_GATEWAY)
        coro = self.request_approval(call, timeout=timeout)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
