"""The agent-run verbs of :class:`~.client.AsyncPushClient`: ``execute``, ``attach``, ``approve``.

Kept apart from ``client.py`` so that module stays one screenful of verbs each
(under 500 lines); ``AsyncPushClient`` takes these functions as its methods, so
they are its verbs in every respect (signatures, docs, the blocking face's
mirror). They only check arguments and hand over to the run registry.
"""

from __future__ import annotations

from typing import Protocol

from praison_push.protocol.runs import run_channel

from .driver import SessionDriver
from .execution import Execution
from .runs import RunRegistry
from .validation import (
    MAX_EXECUTION_ID_LENGTH,
    check_approval,
    check_channel,
    check_text,
    execute_frame,
)

__all__ = ["RunOwner", "approve", "attach", "execute"]


class RunOwner(Protocol):
    """What the verbs need of the client: its run registry and session driver."""

    _runs: RunRegistry
    _driver: SessionDriver


async def execute(
    self: RunOwner, agent_id: str, input: str, *, session_id: str | None = None
) -> Execution:
    """Start a run of agent ``agent_id`` on ``input``; returns its live :class:`Execution`.

    Returns once the gateway accepted the run; its events then stream into
    the handle (``async for event in execution``, ``await
    execution.result()``). The run belongs to the gateway: it goes on if
    this client disconnects, and a reconnect resumes watching it without
    gaps or repeats.

    Unlike other requests, ``execute`` is never sent twice: if the
    connection drops after it went out and before the gateway answered, it
    fails with :class:`TransportError`, as the run may have started.

    Args:
        agent_id: A registered agent (the gateway's demo agents are ``echo``,
            ``demo-weather`` and ``demo-long``).
        input: What the agent gets.
        session_id: Groups runs into a conversation the agent can see.

    Raises:
        RequestRefused: ``unknown_agent``, or ``invalid_field`` (e.g. an empty input).
        TransportError: The connection dropped before the gateway answered.
        TimeoutError: No reply within ``request_timeout``.
    """
    return await self._runs.start(execute_frame(agent_id, input, session_id))


async def attach(self: RunOwner, execution_id: str) -> Execution:
    """Watch a run started elsewhere (or earlier); its events are replayed from the first.

    Works while the run goes on and after it ended, as long as the
    gateway's history still holds its channel (otherwise
    :attr:`Execution.gap` is set). A run this client already watches
    returns the same handle. An id the gateway never published anything
    for is waited on like a run that has not started yet.

    Raises:
        ValueError: ``execution_id`` is empty or too long.
        RequestRefused: The gateway refused (``forbidden``: another organisation's run).
    """
    check_text(execution_id, "execution_id", MAX_EXECUTION_ID_LENGTH)
    return await self._runs.attach(execution_id, check_channel(run_channel(execution_id)))


async def approve(
    self: RunOwner, execution_id: str, tool_call_id: str, approved: bool, reason: str | None = None
) -> bool:
    """Answer a run's approval request: the paused run goes on (or the tool is denied).

    A run pauses when its agent asks a person before a tool runs
    (``execution_approval_request``; :attr:`Execution.pending_approvals`). A
    denial reaches the agent with ``reason``. ``True`` when the gateway took
    the answer; ``False`` when no request waits for it (answered already,
    timed out — a denial — or the run ended).

    Raises:
        RequestRefused: ``forbidden`` — only the run's requester (or a
            configured approver, ``RunsConfig.approvers``) may answer.
        ValueError: An id, or ``reason``, is empty or too long.
        TypeError: ``approved`` is not a bool.
    """
    reason = check_approval(execution_id, tool_call_id, approved, reason)
    return await self._driver.approve_run(execution_id, tool_call_id, approved, reason)
