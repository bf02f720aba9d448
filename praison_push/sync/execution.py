"""``PushClient.execute(...)``: the blocking face of an agent run.

:class:`SyncExecution` wraps the async :class:`~praison_push.client.Execution`
and holds no logic of its own: waiting, iterating and cancelling run on the
portal loop, where the handle is fed, and block only the calling thread. A
Ctrl-C while blocked cancels the *wait*, never the run — the run belongs to
the gateway, and :meth:`SyncExecution.cancel` is the way to stop it.

Attributes read from here are snapshots (copies) taken from the caller's
thread, so they can be kept and iterated while the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from praison_push.client import (
    EventCallback,
    Execution,
    ExecutionEvent,
    ExecutionIterator,
    Handler,
)

from .mirror import mirrors
from .portal import Portal

__all__ = ["SyncExecution", "SyncExecutionIterator"]


class SyncExecution:
    """A live agent run for blocking code (from ``PushClient.execute`` / ``attach``).

    Same fields as :class:`~praison_push.client.Execution`; ``for event in
    execution`` blocks for each event, from the first up to the terminal one.
    Callbacks given to :meth:`subscribe` run on the client's callback thread.
    """

    def __init__(
        self, portal: Portal, execution: Execution, adapt: Callable[[EventCallback], Handler]
    ) -> None:
        self._portal = portal
        self._execution = execution
        self._adapt = adapt
        self._adapted: dict[EventCallback, Handler] = {}

    def __repr__(self) -> str:
        return repr(self._execution)

    def __str__(self) -> str:
        return str(self._execution)

    def transcript(self) -> str:
        """The run as text so far: status line, tool calls, the answer, usage."""
        return self._execution.transcript()

    def _repr_markdown_(self) -> str:
        return self._execution._repr_markdown_()

    def _repr_html_(self) -> str:
        return self._execution._repr_html_()

    # --- fields (snapshots) ------------------------------------------------------

    @property
    def async_execution(self) -> Execution:
        """The async handle underneath (its coroutines must run on the portal loop)."""
        return self._execution

    @property
    @mirrors(Execution.execution_id)
    def execution_id(self) -> str:
        return self._execution.execution_id

    @property
    @mirrors(Execution.agent_id)
    def agent_id(self) -> str:
        return self._execution.agent_id

    @property
    @mirrors(Execution.channel)
    def channel(self) -> str:
        return self._execution.channel

    @property
    @mirrors(Execution.status)
    def status(self) -> str:
        return self._execution.status

    @property
    @mirrors(Execution.done)
    def done(self) -> bool:
        return self._execution.done

    @property
    @mirrors(Execution.output)
    def output(self) -> str:
        return self._execution.output

    @property
    @mirrors(Execution.tokens)
    def tokens(self) -> list[str]:
        return list(self._execution.tokens)

    @property
    @mirrors(Execution.token_count)
    def token_count(self) -> int:
        return self._execution.token_count

    @property
    @mirrors(Execution.tool_calls)
    def tool_calls(self) -> list[dict[str, Any]]:
        return [dict(call) for call in self._execution.tool_calls]

    @property
    @mirrors(Execution.reasoning)
    def reasoning(self) -> str:
        return self._execution.reasoning

    @property
    @mirrors(Execution.approvals)
    def approvals(self) -> dict[str, dict[str, Any]]:
        return {key: dict(request) for key, request in self._execution.approvals.items()}

    @property
    @mirrors(Execution.pending_approvals)
    def pending_approvals(self) -> list[dict[str, Any]]:
        return [dict(request) for request in self._execution.pending_approvals]

    @property
    @mirrors(Execution.usage)
    def usage(self) -> dict[str, Any] | None:
        usage = self._execution.usage
        return None if usage is None else dict(usage)

    @property
    @mirrors(Execution.latency_ms)
    def latency_ms(self) -> int | None:
        return self._execution.latency_ms

    @property
    @mirrors(Execution.error)
    def error(self) -> dict[str, Any] | None:
        error = self._execution.error
        return None if error is None else dict(error)

    @property
    @mirrors(Execution.events)
    def events(self) -> list[ExecutionEvent]:
        return list(self._execution.events)

    @property
    @mirrors(Execution.gap)
    def gap(self) -> bool:
        return self._execution.gap

    # --- waiting -------------------------------------------------------------------

    def __iter__(self) -> SyncExecutionIterator:
        return SyncExecutionIterator(self._portal, self._execution.__aiter__())

    @mirrors(Execution.wait)
    def wait(self, timeout: float | None = None) -> SyncExecution:
        self._portal.call(self._execution.wait(timeout))
        return self

    def result(self, timeout: float | None = None) -> str:
        """The run's final output, once it completed; blocks until then.

        A Ctrl-C while blocked cancels the wait, never the run.

        Raises:
            ExecutionFailed: The run failed or was cancelled (``code``, ``message``).
            TimeoutError: Still running after ``timeout`` seconds (the run goes on).
            ConnectionClosedError: The client closed for good before the run ended.
            KeyboardInterrupt: Ctrl-C while waiting (the run goes on).
        """
        return self._portal.call(self._execution.result(timeout))

    @mirrors(Execution.cancel)
    def cancel(self) -> bool:
        return self._portal.call(self._execution.cancel())

    @mirrors(Execution.approve)
    def approve(self, tool_call_id: str, approved: bool, reason: str | None = None) -> bool:
        return self._portal.call(self._execution.approve(tool_call_id, approved, reason))

    # --- callbacks -------------------------------------------------------------------

    def subscribe(self, callback: EventCallback) -> EventCallback:
        """Call ``callback`` with every event, past ones first, on the client's callback thread.

        Each callback is fed from the first event, in order, until the
        terminal event. Returns ``callback``, so this works as a decorator.
        What a callback raises is logged and skipped. A coroutine function
        runs on the portal loop instead.
        """
        if callback in self._adapted:
            return callback
        adapted = self._adapt(callback)
        self._portal.run_sync(self._execution.subscribe, adapted)
        self._adapted[callback] = adapted
        return callback

    @mirrors(Execution.unsubscribe)
    def unsubscribe(self, callback: EventCallback) -> bool:
        adapted = self._adapted.pop(callback, None)
        if adapted is None:
            return False
        return self._portal.run_sync(self._execution.unsubscribe, adapted)

    @property
    @mirrors(Execution.on_event)
    def on_event(self) -> tuple[EventCallback, ...]:
        feeding = self._portal.run_sync(lambda: self._execution.on_event)
        return tuple(mine for mine, adapted in self._adapted.items() if adapted in feeding)


class SyncExecutionIterator:
    """A blocking cursor over a run's events (one per ``iter(execution)``)."""

    def __init__(self, portal: Portal, cursor: ExecutionIterator) -> None:
        self._portal = portal
        self._cursor = cursor

    def __repr__(self) -> str:
        return repr(self._cursor).replace("<ExecutionIterator", "<SyncExecutionIterator", 1)

    def __iter__(self) -> Iterator[ExecutionEvent]:
        return self

    def __next__(self) -> ExecutionEvent:
        try:
            return self._portal.call(self._cursor.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None
