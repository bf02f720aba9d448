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
    def execution_id(self) -> str:
        """The gateway's id of the run (``exec_…``)."""
        return self._execution.execution_id

    @property
    def agent_id(self) -> str:
        """The agent that runs."""
        return self._execution.agent_id

    @property
    def channel(self) -> str:
        """The run's channel, ``executions:<execution_id>``."""
        return self._execution.channel

    @property
    def status(self) -> str:
        """``"running"``, ``"completed"``, ``"failed"`` or ``"cancelled"``."""
        return self._execution.status

    @property
    def done(self) -> bool:
        """Whether the run's terminal event has arrived."""
        return self._execution.done

    @property
    def output(self) -> str:
        """The answer so far (the final output once completed)."""
        return self._execution.output

    @property
    def tokens(self) -> list[str]:
        """The streamed text, one entry per token event."""
        return list(self._execution.tokens)

    @property
    def token_count(self) -> int:
        """How many agent tokens arrived."""
        return self._execution.token_count

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """One dict per tool call, in the order they started."""
        return [dict(call) for call in self._execution.tool_calls]

    @property
    def usage(self) -> dict[str, Any] | None:
        """Token counts, once completed."""
        usage = self._execution.usage
        return None if usage is None else dict(usage)

    @property
    def latency_ms(self) -> int | None:
        """The gateway's measure of the run's duration, once completed."""
        return self._execution.latency_ms

    @property
    def error(self) -> dict[str, Any] | None:
        """``{code, message, details?}``, once failed or cancelled."""
        error = self._execution.error
        return None if error is None else dict(error)

    @property
    def events(self) -> list[ExecutionEvent]:
        """Every event so far, in order."""
        return list(self._execution.events)

    @property
    def gap(self) -> bool:
        """Whether some events were no longer in the gateway's history."""
        return self._execution.gap

    # --- waiting -------------------------------------------------------------------

    def __iter__(self) -> SyncExecutionIterator:
        return SyncExecutionIterator(self._portal, self._execution.__aiter__())

    def wait(self, timeout: float | None = None) -> SyncExecution:
        """Block until the run has ended, however it ended (see ``Execution.wait``)."""
        self._portal.call(self._execution.wait(timeout))
        return self

    def result(self, timeout: float | None = None) -> str:
        """Block for the final output (see ``Execution.result``).

        Raises:
            ExecutionFailed: The run failed or was cancelled.
            TimeoutError: Still running after ``timeout`` seconds (the run goes on).
            KeyboardInterrupt: Ctrl-C while waiting (the run goes on).
        """
        return self._portal.call(self._execution.result(timeout))

    def cancel(self) -> bool:
        """Cancel the run; ``True`` once it has ended as cancelled."""
        return self._portal.call(self._execution.cancel())

    # --- callbacks -------------------------------------------------------------------

    def subscribe(self, callback: EventCallback) -> EventCallback:
        """Call ``callback`` with every event, past ones first, on the callback thread."""
        if callback in self._adapted:
            return callback
        adapted = self._adapt(callback)
        self._portal.call(_run_sync(lambda: self._execution.subscribe(adapted)))
        self._adapted[callback] = adapted
        return callback

    def unsubscribe(self, callback: EventCallback) -> bool:
        """Stop calling ``callback``; tell whether it was still being fed."""
        adapted = self._adapted.pop(callback, None)
        if adapted is None:
            return False
        return bool(self._portal.call(_run_sync(lambda: self._execution.unsubscribe(adapted))))


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


async def _run_sync(fn: Callable[[], Any]) -> Any:
    """Run a plain call on the portal loop (the handle is only touched from its thread)."""
    return fn()
