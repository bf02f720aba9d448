"""Human approval of tool calls: a run pauses until its requester (or an approver) answers.

An agent asks through :meth:`~praison_push.agents.AgentContext.request_approval`;
the run publishes ``execution_approval_request {tool_call_id, name, arguments,
timeout}`` and waits. ``execution.approve`` from someone allowed answers it; no
answer within the timeout is a denial (``timed_out: true``). Either way the run
publishes ``execution_approval_result`` and the agent goes on (PROTOCOL.md §4, §8).

Who may answer: the run's requester — the same identity, and for anonymous
callers (who share one identity) the same ``client_id``, exactly as for
cancelling — or a user listed in ``RunsConfig.approvers`` of the run's own
organisation. Anyone else is ``forbidden``: run ids are visible on the feed,
so knowing one proves nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from ..agents import Approval, ToolCall
from ..config import RunsConfig
from ..protocol import ErrorCode, FrameError
from ..protocol.runs import RunEvent
from .principal import Principal
from .run_record import RunRecord

__all__ = ["Approvals"]

#: ``(run, event, fields)`` — publishes one event of the run (holding its lock).
Emit = Callable[[RunRecord, RunEvent, dict[str, Any]], Awaitable[None]]


class Approvals:
    """Asks for and answers the approval requests of one node's runs.

    Args:
        config: The timeout and the configured approvers.
        emit: Publishes a run event in order with the run's other events.
    """

    def __init__(self, config: RunsConfig, emit: Emit) -> None:
        self._config = config
        self._emit = emit

    def may_answer(self, run: RunRecord, principal: Principal, client_id: str | None) -> bool:
        """Whether ``principal`` (on ``client_id``) may answer ``run``'s requests."""
        if principal == run.principal:
            return not (
                principal.anonymous and run.client_id is not None and run.client_id != client_id
            )
        return (
            principal.user_id is not None
            and principal.user_id in self._config.approvers
            and principal.org_id == run.principal.org_id
        )

    async def ask(self, run: RunRecord, call: ToolCall, timeout: float | None) -> Approval:
        """Publish the request for ``call``, wait for its answer, publish the answer."""
        wait = self._config.approval_timeout if timeout is None else timeout
        if wait <= 0:
            raise ValueError(f"approval timeout must be > 0 seconds, got {wait!r}")
        future: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()
        run.approvals[call.id] = future
        request = {
            "tool_call_id": call.id,
            "name": call.name,
            "arguments": call.arguments or {},
            "timeout": wait,
        }
        try:
            await self._emit(run, RunEvent.APPROVAL_REQUEST, request)
            decision = await asyncio.wait_for(future, wait)
        except asyncio.TimeoutError:
            decision = Approval(False, f"no answer within {wait:g}s", timed_out=True)
        finally:
            run.approvals.pop(call.id, None)
        result: dict[str, Any] = {
            "tool_call_id": call.id,
            "name": call.name,
            "approved": decision.approved,
        }
        if decision.reason:
            result["reason"] = decision.reason
        if decision.timed_out:
            result["timed_out"] = True
        await self._emit(run, RunEvent.APPROVAL_RESULT, result)
        return decision

    def answer(
        self,
        run: RunRecord | None,
        tool_call_id: str,
        approval: Approval,
        principal: Principal,
        client_id: str | None,
    ) -> bool:
        """Answer a waiting request; ``False`` when there is none (any more).

        Raises:
            FrameError: ``forbidden`` — the caller may not answer this run's requests.
        """
        if run is None or not run.running:
            return False
        if not self.may_answer(run, principal, client_id):
            raise FrameError(
                ErrorCode.FORBIDDEN,
                "only the run's requester or a configured approver may answer "
                "its approval requests",
                field="execution_id",
            )
        future = run.approvals.get(tool_call_id)
        if future is None or future.done():
            return False
        future.set_result(approval)
        return True

    @staticmethod
    def drop(run: RunRecord) -> None:
        """The run is cancelled: stop every wait (a waiting thread agent gets CancelledError)."""
        for future in run.approvals.values():
            future.cancel()
