"""Agent runs: start, stream, cancel — each run's events are channel publications.

A run publishes every event on ``executions:<id>`` (kept in history, so a late
or reconnecting watcher replays the whole run) and on the ``executions`` feed
(``executions#<org>`` when the requester has an org, so an org never sees
another's runs) — PROTOCOL.md §4. The run belongs to the gateway, not to the
connection that asked for it: it keeps going if the requester disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..agents import AgentContext, AgentRegistry, ToolCall, ToolResult, Usage, iterate_agent
from ..protocol import ErrorCode, FrameError
from .scopes import scoped_name
from .session import ANONYMOUS, Principal

__all__ = ["EXECUTIONS_FEED", "Execution", "ExecutionManager", "execution_channel"]

logger = logging.getLogger("praison_push.hub")

EXECUTIONS_FEED = "executions"
#: Longest accepted agent input, in characters.
MAX_INPUT_CHARS = 32_768
#: Conversation sessions remembered (least recently used dropped first), and turns per session.
MAX_SESSIONS = 10_000
MAX_SESSION_TURNS = 100

#: ``(channel, data, display_channel) -> receipt`` — the hub's publish.
Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]


def execution_channel(execution_id: str) -> str:
    """The channel carrying one run's events."""
    return f"executions:{execution_id}"


@dataclass
class Execution:
    """One agent run and what it produced so far."""

    execution_id: str
    agent_id: str
    input: str
    principal: Principal
    client_id: str | None
    session_id: str | None
    context: AgentContext
    started: float
    status: str = "running"
    #: Whether the run's task has started (see :meth:`ExecutionManager.cancel`).
    begun: bool = False
    tokens: int = 0
    chunks: int = 0
    output: list[str] = field(default_factory=list)
    usage: Usage | None = None
    task: asyncio.Task[None] | None = None
    pending: list[str] = field(default_factory=list)
    last_flush: float = float("-inf")
    flush_timer: asyncio.TimerHandle | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def channel(self) -> str:
        """The run's internal channel (scoped to the requester's org, if any)."""
        return scoped_name(execution_channel(self.execution_id), self.principal.org_id)

    @property
    def feed(self) -> str:
        """The internal feed channel this run also publishes on."""
        return scoped_name(EXECUTIONS_FEED, self.principal.org_id)


class ExecutionManager:
    """Runs agents for the hub and publishes their events.

    Args:
        registry: The agents that can be run.
        publish: Publishes one event (the hub's publish path).
        monotonic: Clock for latencies, injectable for tests.
        keep_finished: How many finished runs to remember (for cancel/inspection).
        token_interval: Shortest time between two ``execution_token`` events of
            one run. Tokens an agent yields faster are sent together as one
            chunk (``count`` says how many), so a 5,000 tokens/s agent watched
            by 100 clients costs 100 × (1/token_interval) frames per second
            instead of 500,000. Slower agents are not delayed at all.
    """

    def __init__(
        self,
        registry: AgentRegistry,
        publish: Publish,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        keep_finished: int = 1_000,
        token_interval: float = 0.005,
    ) -> None:
        self.registry = registry
        self._publish = publish
        self._monotonic = monotonic
        self._keep_finished = keep_finished
        self._token_interval = token_interval
        self.runs: dict[str, Execution] = {}
        self._finished: list[str] = []
        # Conversation turns per session, least recently used first; bounded so
        # clients inventing session ids cannot grow it without limit.
        self._sessions: OrderedDict[_ConversationKey, list[dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return sum(1 for run in self.runs.values() if run.status == "running")

    def running_for(self, client_id: str) -> int:
        """How many runs requested by ``client_id`` are still running."""
        return sum(
            1
            for run in self.runs.values()
            if run.status == "running" and run.client_id == client_id
        )

    def prepare(
        self,
        agent_id: str,
        text: str,
        *,
        principal: Principal,
        client_id: str | None = None,
        session_id: str | None = None,
    ) -> Execution:
        """Validate a request and create its run (not yet started).

        Raises:
            FrameError: ``unknown_agent``, or ``invalid_field`` for an empty or oversized input.
        """
        spec = self.registry.get(agent_id)
        if spec is None:
            known = ", ".join(self.registry.names()) or "none"
            raise FrameError(
                ErrorCode.UNKNOWN_AGENT,
                f"No agent with ID '{agent_id}' exists (known: {known})",
                field="agent_id",
            )
        if not text.strip():
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "No message provided: field 'input' must not be empty",
                field="input",
            )
        if len(text) > MAX_INPUT_CHARS:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                f"field 'input' exceeds {MAX_INPUT_CHARS} characters",
                field="input",
                details={"max_length": MAX_INPUT_CHARS},
            )
        execution_id = f"exec_{secrets.token_hex(8)}"
        key = _conversation(principal, session_id)
        history = self._sessions.get(key, []) if key else []
        context = AgentContext(
            execution_id,
            agent_id,
            session_id=session_id,
            user_id=principal.user_id,
            org_id=principal.org_id,
            history=list(history),
        )
        run = Execution(
            execution_id,
            agent_id,
            text,
            principal,
            client_id,
            session_id,
            context,
            started=self._monotonic(),
        )
        self.runs[execution_id] = run
        return run

    def start(self, run: Execution) -> None:
        """Start a prepared run on the running loop."""
        run.task = asyncio.get_running_loop().create_task(
            self._run(run), name=f"praison-push-{run.execution_id}"
        )

    def cancel(self, execution_id: str, principal: Principal, client_id: str | None = None) -> bool:
        """Cancel a running run; ``False`` when it is unknown, finished or not the caller's.

        Only its requester may cancel a run: the same identity, and — for
        anonymous callers, who share one identity — the same ``client_id``.
        Run ids are visible on the feed, so knowing one proves nothing.
        """
        run = self.runs.get(execution_id)
        if run is None or run.status != "running" or run.principal != principal:
            return False
        if principal.anonymous and run.client_id is not None and run.client_id != client_id:
            return False
        run.context.cancel()
        # A task cancelled before its first step would never run its handlers (no
        # terminal event, status stuck at "running"); it sees the flag instead.
        if run.task is not None and run.begun:
            run.task.cancel()
        return True

    async def close(self) -> None:
        """Cancel every run (gateway shutdown)."""
        tasks = [run.task for run in self.runs.values() if run.task and not run.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _emit(self, run: Execution, event: str, fields: dict[str, Any]) -> None:
        data = {"event": event, "execution_id": run.execution_id, "agent_id": run.agent_id}
        if run.principal.user_id is not None:
            data["user_id"] = run.principal.user_id
        data.update(fields)
        await self._publish(run.channel, data)
        await self._publish(run.feed, data)

    async def _run(self, run: Execution) -> None:
        spec = self.registry.get(run.agent_id)
        run.begun = True
        try:
            await self._emit(run, "execution_start", {"status": "running"})
            if run.context.cancelled:  # cancelled before it began
                raise asyncio.CancelledError
            if spec is None:  # unregistered between prepare and start
                raise LookupError(f"agent {run.agent_id!r} was removed")
            async for item in iterate_agent(spec, run.input, run.context):
                if isinstance(item, str):
                    if self._add_token(run, item):
                        async with run.lock:
                            await self._flush_tokens(run)
                else:
                    async with run.lock:
                        await self._flush_tokens(run)
                        await self._handle(run, item)
                # An agent that is behind schedule may never await: let the
                # writers (and everyone else) run between its items.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            run.status = "cancelled"
            error = {"code": "CANCELLED", "message": "cancelled"}
            await self._finish(run, "execution_error", {"status": "cancelled", "error": error})
        except Exception as exc:
            run.status = "failed"
            code = "TOOL_EXECUTION_FAILED" if isinstance(exc, _ToolFailed) else "AGENT_FAILED"
            logger.info("agent %s failed in %s: %r", run.agent_id, run.execution_id, exc)
            failure: dict[str, Any] = {"code": code, "message": str(exc) or type(exc).__name__}
            details = getattr(exc, "details", None)
            if details:
                failure["details"] = details
            await self._finish(run, "execution_error", {"status": "failed", "error": failure})
        else:
            run.status = "completed"
            output = "".join(run.output)
            usage = run.usage or Usage(
                prompt_tokens=len(run.input.split()), completion_tokens=run.tokens
            )
            self._remember_turn(run, output)
            await self._finish(
                run,
                "execution_complete",
                {
                    "status": "completed",
                    "output": output,
                    "usage": usage.to_dict(),
                    "latency_ms": round((self._monotonic() - run.started) * 1000),
                },
            )
        finally:
            self._retire(run)

    async def _finish(self, run: Execution, event: str, fields: dict[str, Any]) -> None:
        """Send what is pending, then the run's last event."""
        if run.flush_timer is not None:
            run.flush_timer.cancel()
            run.flush_timer = None
        async with run.lock:
            await self._flush_tokens(run)
            await self._emit(run, event, fields)

    def _add_token(self, run: Execution, token: str) -> bool:
        """Queue a token; ``True`` when it is due now, else a timer sends it soon.

        Tokens within ``token_interval`` of the last sent chunk wait for that
        interval to pass and then go out together.
        """
        if not token:
            return False
        run.tokens += 1
        run.output.append(token)
        run.pending.append(token)
        if run.flush_timer is not None:
            return False
        wait = run.last_flush + self._token_interval - self._monotonic()
        if wait <= 0:
            return True
        loop = asyncio.get_running_loop()
        run.flush_timer = loop.call_later(wait, lambda: loop.create_task(self._timed_flush(run)))
        return False

    async def _timed_flush(self, run: Execution) -> None:
        run.flush_timer = None
        if run.status != "running":
            return
        async with run.lock:
            await self._flush_tokens(run)

    async def _flush_tokens(self, run: Execution) -> None:
        """Publish the queued tokens as one ``execution_token`` (caller holds ``run.lock``)."""
        if not run.pending:
            return
        count = len(run.pending)
        text = "".join(run.pending)
        run.pending = []
        run.last_flush = self._monotonic()
        index = run.chunks
        run.chunks += 1
        fields: dict[str, Any] = {"token": text, "index": index}
        if count > 1:
            fields["count"] = count
        await self._emit(run, "execution_token", fields)

    async def _handle(self, run: Execution, item: Any) -> None:
        if isinstance(item, ToolCall):
            call: dict[str, Any] = {"id": item.id, "name": item.name, "status": "calling"}
            if item.arguments is not None:
                call["arguments"] = item.arguments
            await self._emit(run, "execution_tool", {"tool_call": call})
        elif isinstance(item, ToolResult):
            done: dict[str, Any] = {
                "id": item.call.id,
                "name": item.call.name,
                "status": item.status,
            }
            if item.error is not None:
                done["error"] = item.error
                await self._emit(run, "execution_tool", {"tool_call": done})
                raise _ToolFailed(item)
            done["result"] = item.result
            await self._emit(run, "execution_tool", {"tool_call": done})
        elif isinstance(item, Usage):
            run.usage = item
        elif self._add_token(run, str(item)):
            await self._flush_tokens(run)

    def _remember_turn(self, run: Execution, output: str) -> None:
        key = _conversation(run.principal, run.session_id)
        if key is None:
            return
        turns = self._sessions.setdefault(key, [])
        self._sessions.move_to_end(key)
        turns.append({"role": "user", "content": run.input})
        turns.append({"role": "assistant", "content": output})
        del turns[:-MAX_SESSION_TURNS]
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)

    def session_history(
        self, session_id: str, principal: Principal = ANONYMOUS
    ) -> list[dict[str, Any]]:
        """The turns kept for ``session_id`` of this caller (at most the last 100)."""
        key = _conversation(principal, session_id)
        return list(self._sessions.get(key, [])) if key else []

    def _retire(self, run: Execution) -> None:
        self._finished.append(run.execution_id)
        while len(self._finished) > self._keep_finished:
            self.runs.pop(self._finished.pop(0), None)


_ConversationKey = tuple[str | None, str, str]


def _conversation(principal: Principal, session_id: str | None) -> _ConversationKey | None:
    """Whose conversation ``session_id`` is: a session id alone would let anyone
    who guesses it read another user's turns (they reach the agent as history).

    Identified users (a ``TokenGrant`` with ``user_id``/``org_id``) each have
    their own sessions. Anonymous callers share one trust domain (an open
    gateway or one shared token), so they share sessions by id — which is what
    lets a reconnecting agent-chat client continue ``/ws/{session_id}``.
    """
    if not session_id:
        return None
    return (principal.org_id, principal.user_id or "", session_id)


class _ToolFailed(Exception):
    """A tool reported failure; the run ends with ``TOOL_EXECUTION_FAILED``."""

    def __init__(self, result: ToolResult) -> None:
        super().__init__(f"tool {result.call.name!r} failed: {result.error}")
        self.details = {"tool_name": result.call.name, "tool_call_id": result.call.id}
