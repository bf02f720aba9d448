"""Agent runs: start, stream, cancel — each run's events are channel publications.

A run publishes every event on its run channel ``executions:<id>`` (kept in
history, so a late or reconnecting watcher replays the whole run) and on the
run feed ``executions`` (``executions#<org>`` when the requester has an org, so
an org never sees another's runs) — PROTOCOL.md §4. The run belongs to the
gateway, not to the connection that asked for it: it keeps going if the
requester disconnects. The event names, statuses and error codes are those of
:mod:`praison_push.protocol.runs`.

Text an agent streams — answer tokens, reasoning, a tool call's argument text —
is sent in chunks: text of one kind that arrives within ``token_interval`` of
the last event goes out together, and a change of kind sends what waits first,
so the order of everything a run publishes is the order the agent yielded it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..agents import (
    AgentContext,
    AgentError,
    AgentRegistry,
    Approval,
    Reasoning,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
    iterate_agent,
)
from ..config import RunsConfig
from ..protocol import ErrorCode, FrameError
from ..protocol.runs import RunErrorCode, RunEvent, RunStatus, ToolStatus
from .approvals import Approvals
from .conversations import Conversations
from .principal import Principal
from .run_record import RunRecord, StreamKey

__all__ = ["MAX_INPUT_CHARS", "RunManager", "RunRecord"]

logger = logging.getLogger("praison_push.hub")

#: Longest accepted agent input, in characters.
MAX_INPUT_CHARS = 32_768

#: ``(channel, data) -> receipt`` — the hub's publish.
Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]

_RUNNING = RunStatus.RUNNING.value
_TOKEN: StreamKey = ("token",)
_REASONING: StreamKey = ("reasoning",)


def _stream_of(item: Any) -> tuple[StreamKey, str] | None:
    """``(key, text)`` when ``item`` is streamed text, else ``None``."""
    if isinstance(item, str):
        return _TOKEN, item
    if isinstance(item, Reasoning):
        return _REASONING, item.delta
    if isinstance(item, ToolCallDelta):
        return ("arguments", item.id), item.delta
    return None


class RunManager:
    """Runs agents for the hub and publishes their events.

    Args:
        registry: The agents that can be run.
        publish: Publishes one event (the hub's publish path).
        monotonic: Clock for latencies, injectable for tests.
        keep_finished: How many finished runs to remember (for cancel/inspection).
        token_interval: Shortest time between two text events of one run.
            Text an agent yields faster is sent together as one chunk (an
            ``execution_token``'s ``count`` says how many tokens), so a 5,000
            tokens/s agent watched by 100 clients costs 100 × (1/token_interval)
            frames per second instead of 500,000. Slower agents are not delayed at all.
        conversations: Where conversation turns are kept (a fresh store by default).
        config: Approval timeout and approvers (defaults when not given).
    """

    def __init__(
        self,
        registry: AgentRegistry,
        publish: Publish,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        keep_finished: int = 1_000,
        token_interval: float = 0.005,
        conversations: Conversations | None = None,
        config: RunsConfig | None = None,
    ) -> None:
        self.registry = registry
        #: Called with each finished run's status and duration (the hub's metrics).
        self.on_finished: Callable[[str, float], None] | None = None
        self.conversations = conversations if conversations is not None else Conversations()
        self.approvals = Approvals(config or RunsConfig(), self._emit_in_order)
        self._publish = publish
        self._monotonic = monotonic
        self._keep_finished = keep_finished
        self._token_interval = token_interval
        self._records: dict[str, RunRecord] = {}
        self._finished: list[str] = []

    def __len__(self) -> int:
        """Runs still running."""
        return sum(1 for run in self._records.values() if run.running)

    def get(self, execution_id: str) -> RunRecord | None:
        """The record of a running or recently finished run."""
        return self._records.get(execution_id)

    def records(self) -> list[RunRecord]:
        """Every run remembered (running, then up to ``keep_finished`` finished), oldest first."""
        return list(self._records.values())

    def running_for(self, client_id: str) -> int:
        """How many runs requested by ``client_id`` are still running."""
        return sum(
            1 for run in self._records.values() if run.running and run.client_id == client_id
        )

    def prepare(
        self,
        agent_id: str,
        text: str,
        *,
        principal: Principal,
        client_id: str | None = None,
        conversation_id: str | None = None,
    ) -> RunRecord:
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
        context = AgentContext(
            execution_id,
            agent_id,
            session_id=conversation_id,
            user_id=principal.user_id,
            org_id=principal.org_id,
            history=self.conversations.history(conversation_id, principal),
        )
        run = RunRecord(
            execution_id,
            agent_id,
            text,
            principal,
            client_id,
            conversation_id,
            context,
            started=self._monotonic(),
        )
        self._records[execution_id] = run
        return run

    def start(self, run: RunRecord) -> None:
        """Start a prepared run on the running loop."""
        loop = asyncio.get_running_loop()
        run.context.loop = loop

        async def approver(call: ToolCall, timeout: float | None) -> Approval:
            return await self.approvals.ask(run, call, timeout)

        run.context.approver = approver
        run.task = loop.create_task(self._run(run), name=f"praison-push-{run.execution_id}")

    def cancel(self, execution_id: str, principal: Principal, client_id: str | None = None) -> bool:
        """Cancel a running run; ``False`` when it is unknown, finished or not the caller's.

        Only its requester may cancel a run: the same identity, and — for
        anonymous callers, who share one identity — the same ``client_id``.
        Run ids are visible on the feed, so knowing one proves nothing.
        """
        run = self._records.get(execution_id)
        if run is None or not run.running or run.principal != principal:
            return False
        if principal.anonymous and run.client_id is not None and run.client_id != client_id:
            return False
        run.context.cancel()
        self.approvals.drop(run)
        # A task cancelled before its first step would never run its handlers (no
        # terminal event, status stuck at "running"); it sees the flag instead.
        if run.task is not None and run.begun:
            run.task.cancel()
        return True

    def answer(
        self,
        execution_id: str,
        tool_call_id: str,
        approval: Approval,
        principal: Principal,
        client_id: str | None = None,
    ) -> bool:
        """Answer a run's approval request; ``False`` when none waits (any more).

        Raises:
            FrameError: ``forbidden`` — not the requester nor a configured approver.
        """
        run = self._records.get(execution_id)
        return self.approvals.answer(run, tool_call_id, approval, principal, client_id)

    async def close(self) -> None:
        """Cancel every run, then let the agents close their connections (gateway shutdown)."""
        tasks = [run.task for run in self._records.values() if run.task and not run.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.registry.aclose()

    async def _emit(self, run: RunRecord, event: RunEvent, fields: dict[str, Any]) -> None:
        data = {"event": event.value, "execution_id": run.execution_id, "agent_id": run.agent_id}
        if run.principal.user_id is not None:
            data["user_id"] = run.principal.user_id
        if run.conversation_id is not None:
            # Lets the conversation's other agent-chat connections follow it (hub/agent_chat.py).
            data["session_id"] = run.conversation_id
        data.update(fields)
        await self._publish(run.channel, data)
        await self._publish(run.feed, data)

    async def _emit_in_order(self, run: RunRecord, event: RunEvent, fields: dict[str, Any]) -> None:
        """Send the text that waits, then ``event`` (from any task of the loop)."""
        async with run.lock:
            await self._flush(run)
            await self._emit(run, event, fields)

    async def _run(self, run: RunRecord) -> None:
        spec = self.registry.get(run.agent_id)
        run.begun = True
        try:
            await self._emit(run, RunEvent.START, {"status": _RUNNING})
            if run.context.cancelled:  # cancelled before it began
                raise asyncio.CancelledError
            if spec is None:  # unregistered between prepare and start
                raise LookupError(f"agent {run.agent_id!r} was removed")
            async for item in iterate_agent(spec, run.input, run.context):
                text = _stream_of(item)
                if text is None:
                    async with run.lock:
                        await self._flush(run)
                        await self._handle(run, item)
                else:
                    key, chunk = text
                    if isinstance(item, ToolCallDelta) and item.name:
                        run.tool_names[item.id] = item.name
                    if run.pending and key != run.pending_key:
                        async with run.lock:
                            await self._flush(run)  # another kind of text: keep the order
                    if self._add_text(run, key, chunk):
                        async with run.lock:
                            await self._flush(run)
                # An agent that is behind schedule may never await: let the
                # writers (and everyone else) run between its items.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            await self._fail(run, RunStatus.CANCELLED, RunErrorCode.CANCELLED, "cancelled")
        except Exception as exc:
            logger.info("agent %s failed in %s: %r", run.agent_id, run.execution_id, exc)
            code, message, details = _failure(exc, run.failed_tool)
            await self._fail(run, RunStatus.FAILED, code, message, details)
        else:
            run.status = RunStatus.COMPLETED.value
            output = "".join(run.output)
            usage = run.usage or Usage(
                prompt_tokens=len(run.input.split()), completion_tokens=run.tokens
            )
            self.conversations.remember(run.principal, run.conversation_id, run.input, output)
            await self._finish(
                run,
                RunEvent.COMPLETE,
                {
                    "status": run.status,
                    "output": output,
                    "usage": usage.to_dict(),
                    "latency_ms": round((self._monotonic() - run.started) * 1000),
                },
            )
        finally:
            self._retire(run)
            if self.on_finished is not None:
                self.on_finished(run.status, self._monotonic() - run.started)

    async def _fail(
        self,
        run: RunRecord,
        status: RunStatus,
        code: RunErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """End ``run`` with ``execution_error``."""
        run.status = status.value
        error: dict[str, Any] = {"code": code.value, "message": message}
        if details:
            error["details"] = details
        await self._finish(run, RunEvent.ERROR, {"status": status.value, "error": error})

    async def _finish(self, run: RunRecord, event: RunEvent, fields: dict[str, Any]) -> None:
        """Send what is pending, then the run's last event."""
        if run.flush_timer is not None:
            run.flush_timer.cancel()
            run.flush_timer = None
        await self._emit_in_order(run, event, fields)

    def _add_text(self, run: RunRecord, key: StreamKey, text: str) -> bool:
        """Queue text of kind ``key`` (the queue holds one kind); ``True`` when it is due
        now, else a timer sends it soon.

        Text within ``token_interval`` of the last sent chunk waits for that
        interval to pass and then goes out together.
        """
        if not text:
            return False
        if key == _TOKEN:
            run.tokens += 1
            run.output.append(text)
        run.pending.append(text)
        run.pending_key = key
        if run.flush_timer is not None:
            return False
        wait = run.last_flush + self._token_interval - self._monotonic()
        if wait <= 0:
            return True
        loop = asyncio.get_running_loop()
        run.flush_timer = loop.call_later(wait, lambda: loop.create_task(self._timed_flush(run)))
        return False

    async def _timed_flush(self, run: RunRecord) -> None:
        run.flush_timer = None
        if not run.running:
            return
        async with run.lock:
            await self._flush(run)

    async def _flush(self, run: RunRecord) -> None:
        """Publish the queued text as one event of its kind (caller holds ``run.lock``)."""
        if not run.pending:
            return
        count = len(run.pending)
        text = "".join(run.pending)
        key = run.pending_key or _TOKEN
        run.pending = []
        run.pending_key = None
        run.last_flush = self._monotonic()
        if key == _REASONING:
            await self._emit(run, RunEvent.REASONING, {"delta": text})
            return
        if key[0] == "arguments":
            fields: dict[str, Any] = {"tool_call_id": key[1], "delta": text}
            name = run.tool_names.get(key[1])
            if name:
                fields["name"] = name
            await self._emit(run, RunEvent.TOOL_CALL_DELTA, fields)
            return
        index = run.chunks
        run.chunks += 1
        fields = {"token": text, "index": index}
        if count > 1:
            fields["count"] = count
        await self._emit(run, RunEvent.TOKEN, fields)

    async def _handle(self, run: RunRecord, item: Any) -> None:
        if isinstance(item, ToolCall):
            call: dict[str, Any] = {
                "id": item.id,
                "name": item.name,
                "status": ToolStatus.CALLING.value,
            }
            if item.arguments is not None:
                call["arguments"] = item.arguments
            await self._emit(run, RunEvent.TOOL, {"tool_call": call})
        elif isinstance(item, ToolResult):
            done: dict[str, Any] = {
                "id": item.call.id,
                "name": item.call.name,
                "status": item.status,
            }
            if item.duration_ms is not None:
                done["duration_ms"] = round(item.duration_ms, 3)
            if item.error is not None:
                # An event of the run, not its end: the agent may retry, use another tool
                # or answer without it. The run fails only if the agent does (PROTOCOL.md §8).
                done["error"] = item.error
                run.failed_tool = item
            else:
                run.failed_tool = None
                done["result"] = item.result
            await self._emit(run, RunEvent.TOOL, {"tool_call": done})
        elif isinstance(item, Usage):
            run.usage = item
        elif self._add_text(run, _TOKEN, str(item)):
            await self._flush(run)

    def _retire(self, run: RunRecord) -> None:
        self._finished.append(run.execution_id)
        while len(self._finished) > self._keep_finished:
            self._records.pop(self._finished.pop(0), None)


def _failure(
    exc: Exception, failed_tool: ToolResult | None
) -> tuple[RunErrorCode, str, dict[str, Any] | None]:
    """The error code, message and details of a run whose agent raised ``exc``.

    The code of an :class:`AgentError`; ``TOOL_EXECUTION_FAILED`` when the
    agent's latest tool result had failed (the agent gave up on it), naming
    the tool; ``AGENT_FAILED`` otherwise.
    """
    if isinstance(exc, AgentError):  # the agent says what went wrong, with its own code
        return exc.code, exc.message, exc.details
    message = str(exc) or type(exc).__name__
    if failed_tool is None:
        return RunErrorCode.AGENT_FAILED, message, getattr(exc, "details", None)
    call = failed_tool.call
    return (
        RunErrorCode.TOOL_EXECUTION_FAILED,
        f"tool {call.name!r} failed: {failed_tool.error}; the agent gave up: {message}",
        {"tool_name": call.name, "tool_call_id": call.id},
    )
