"""``await client.execute(...)``: a live handle on one agent run (PROTOCOL.md §4).

:class:`Execution` reads a :class:`~.recorder.RunRecorder`, which the client's
run registry feeds from the receive loop: each field comes from the recorder's
:class:`~praison_push.protocol.runs.RunState`, iterators and
:meth:`Execution.subscribe` callbacks walk its events from the first one.
What the handle may ask of the client is passed in as narrow
:class:`RunControls` (cancel a run, the client's loop), so it holds no
reference to the client. How a run looks in a notebook is :mod:`.display`'s.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from praison_push.protocol import ExecutionFailed
from praison_push.protocol.runs import RunErrorCode, RunStatus

from . import display
from .recorder import RunRecorder
from .transcript import transcript
from .values import ExecutionEvent

__all__ = [
    "EventCallback",
    "Execution",
    "ExecutionIterator",
    "RunControls",
]

logger = logging.getLogger("praison_push.client")

#: Called with each :class:`ExecutionEvent`; may return an awaitable.
EventCallback = Callable[[ExecutionEvent], Any]


@dataclass(frozen=True)
class RunControls:
    """What a run handle may ask of the client that watches it.

    Attributes:
        cancel: Sends ``execution.cancel`` for an execution id; ``True`` when
            the gateway accepted it.
        loop: The client's event loop (``None`` before it connected).
        settle_timeout: How long :meth:`Execution.cancel` waits for the end.
        approve: Sends ``execution.approve`` (``execution_id, tool_call_id,
            approved, reason``); ``True`` when it answered a waiting request.
    """

    cancel: Callable[[str], Awaitable[bool]]
    loop: Callable[[], asyncio.AbstractEventLoop | None]
    settle_timeout: float
    approve: Callable[[str, str, bool, str | None], Awaitable[bool]] | None = None


class Execution:
    """A live, growing record of one agent run; returned by ``execute`` and ``attach``.

    The fields follow the run as its events arrive and keep their values after
    it ends. ``async for event in execution`` yields every event from the first
    one up to and including the terminal one; each loop gets its own cursor, so
    several consumers each see the whole run.

    Args:
        recorder: The record of the run, fed by the client (or by a test).
        controls: How to reach the client (``None``: a handle no client watches,
            which cannot be cancelled).
    """

    def __init__(self, recorder: RunRecorder, controls: RunControls | None = None) -> None:
        self._recorder = recorder
        self._controls = controls
        self._callbacks: dict[EventCallback, asyncio.Task[None]] = {}

    # --- fields --------------------------------------------------------------------------

    @property
    def execution_id(self) -> str:
        """The gateway's id of the run (``exec_…``)."""
        return self._recorder.state.execution_id

    @property
    def agent_id(self) -> str:
        """The agent that runs (learnt from the events after ``attach``)."""
        return self._recorder.state.agent_id

    @property
    def channel(self) -> str:
        """The run's channel, ``executions:<execution_id>``."""
        return self._recorder.channel

    @property
    def status(self) -> str:
        """``"running"``, then ``"completed"``, ``"failed"`` or ``"cancelled"``."""
        return self._recorder.state.status

    @property
    def done(self) -> bool:
        """Whether the run's terminal event has arrived."""
        return self._recorder.done

    @property
    def output(self) -> str:
        """The answer so far: the streamed tokens, then the final output once completed."""
        return self._recorder.state.output

    @property
    def tokens(self) -> list[str]:
        """The streamed text, one entry per ``execution_token`` event, in order.

        An entry holds several agent tokens when the gateway sent them together.
        """
        return self._recorder.state.tokens

    @property
    def token_count(self) -> int:
        """How many agent tokens arrived (each event's ``count``)."""
        return self._recorder.state.token_count

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """One dict per tool call in the order they started, updated in place as it goes on."""
        return self._recorder.state.tool_calls

    @property
    def reasoning(self) -> str:
        """The reasoning ("thinking") text the model streamed, apart from the answer."""
        return self._recorder.state.reasoning_text

    @property
    def approvals(self) -> dict[str, dict[str, Any]]:
        """Every approval request of the run by tool call id:
        ``{tool_call_id, name, arguments, timeout, status, reason?, timed_out?}``."""
        return self._recorder.state.approvals

    @property
    def pending_approvals(self) -> list[dict[str, Any]]:
        """The approval requests still waiting for an answer (answer with :meth:`approve`)."""
        return self._recorder.state.pending_approvals

    @property
    def usage(self) -> dict[str, Any] | None:
        """``{prompt_tokens, completion_tokens, total_tokens}`` once completed."""
        return self._recorder.state.usage

    @property
    def latency_ms(self) -> int | None:
        """The gateway's measure of the run's duration, once completed."""
        return self._recorder.state.latency_ms

    @property
    def error(self) -> dict[str, Any] | None:
        """``{code, message, details?}`` once failed or cancelled."""
        return self._recorder.state.error

    @property
    def events(self) -> list[ExecutionEvent]:
        """Every event so far, in order."""
        return self._recorder.events

    @property
    def gap(self) -> bool:
        """Whether some events were gone from the gateway's history: the record is incomplete."""
        return self._recorder.gap

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop of the client that watches this run."""
        return None if self._controls is None else self._controls.loop()

    # --- waiting -------------------------------------------------------------------------

    def __aiter__(self) -> ExecutionIterator:
        return ExecutionIterator(self._recorder)

    async def wait(self, timeout: float | None = None) -> Execution:
        """Wait until the run has ended, however it ended; returns this handle.

        Raises:
            TimeoutError: Still running after ``timeout`` seconds (the run goes on).
            ConnectionClosedError: The client closed for good before the run ended.
        """
        recorder = self._recorder
        if not recorder.settled:
            try:
                await asyncio.wait_for(recorder.wait_settled(), timeout)
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(
                    f"execution {self.execution_id} still running after {timeout}s"
                ) from None
        if recorder.failure is not None and not recorder.done:
            raise recorder.failure
        return self

    async def result(self, timeout: float | None = None) -> str:
        """The run's final output, once it completed.

        Raises:
            ExecutionFailed: The run failed or was cancelled (``code``, ``message``).
            TimeoutError: Still running after ``timeout`` seconds (the run goes on).
            ConnectionClosedError: The client closed for good before the run ended.
        """
        await self.wait(timeout)
        if self.status == RunStatus.COMPLETED:
            return self.output
        error = self.error or {}
        details = error.get("details")
        raise ExecutionFailed(
            str(error.get("code", RunErrorCode.UNKNOWN.value)),
            str(error.get("message", "")),
            execution_id=self.execution_id,
            status=self.status,
            details=details if isinstance(details, dict) else None,
        )

    async def cancel(self) -> bool:
        """Ask the gateway to cancel the run; ``True`` when the gateway accepted the cancel.

        Then waits (at most the client's ``request_timeout``) for the run's
        terminal event, so :attr:`status` is usually final on return — but when
        that event is late it may still read ``"running"``: await
        :meth:`result` (or check :attr:`done`) to be sure. ``False`` when the
        run had already ended, or ended before the cancel reached it.
        """
        if self.done:
            return False
        if self._controls is None:
            raise RuntimeError("this Execution is not attached to a client")
        ok = await self._controls.cancel(self.execution_id)
        if ok:
            try:
                await asyncio.wait_for(self._recorder.wait_settled(), self._controls.settle_timeout)
            except asyncio.TimeoutError:
                logger.info("no terminal event for cancelled %s yet", self.execution_id)
        return ok

    async def approve(self, tool_call_id: str, approved: bool, reason: str | None = None) -> bool:
        """Answer this run's approval request for ``tool_call_id`` (see ``client.approve``).

        ``True`` when the gateway took the answer; ``False`` when no request
        waits for it (answered already, timed out, or the run ended).

        Raises:
            RequestRefused: ``forbidden`` — only the run's requester (or a
                configured approver) may answer.
        """
        if self._controls is None or self._controls.approve is None:
            raise RuntimeError("this Execution is not attached to a client")
        return await self._controls.approve(self.execution_id, tool_call_id, approved, reason)

    # --- callbacks -----------------------------------------------------------------------

    def subscribe(self, callback: EventCallback) -> EventCallback:
        """Call ``callback`` (sync or async) with every event, past ones first.

        Each callback is fed by its own task from the first event, in order,
        until the terminal event — the hook for widgets and loggers that may
        start after the run did. Returns ``callback``, so this works as a
        decorator. What a callback raises is logged and skipped. Must be called
        on the client's event loop.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if callback not in self._callbacks:
            task = asyncio.get_running_loop().create_task(
                self._pump(callback), name=f"praison-push-{self.execution_id}-callback"
            )
            self._callbacks[callback] = task
        return callback

    def unsubscribe(self, callback: EventCallback) -> bool:
        """Stop calling ``callback``; tell whether it was still being fed."""
        task = self._callbacks.pop(callback, None)
        if task is None:
            return False
        task.cancel()
        return True

    @property
    def on_event(self) -> tuple[EventCallback, ...]:
        """The callbacks still being fed (see :meth:`subscribe`)."""
        return tuple(self._callbacks)

    async def _pump(self, callback: EventCallback) -> None:
        index = 0
        try:
            while True:
                try:
                    event = await self._recorder.event_at(index)
                except (StopAsyncIteration, Exception):
                    return  # the run ended, or the client closed before it did
                index += 1
                try:
                    outcome = callback(event)
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    logger.exception(
                        "execution callback %s raised on %s", _name(callback), event.kind
                    )
        finally:
            if self._callbacks.get(callback) is asyncio.current_task():
                del self._callbacks[callback]

    # --- display -------------------------------------------------------------------------

    def __repr__(self) -> str:
        if self.done:
            return self.transcript()  # a finished run reads as what happened
        count = self.token_count
        return (
            f"<Execution {self.execution_id} {self.agent_id or '?'} {self.status} "
            f"{count} token{'' if count == 1 else 's'}>"
        )

    def __str__(self) -> str:
        return self.transcript() if self.done else repr(self)

    def transcript(self) -> str:
        """The run as text so far: status line, tool calls, the answer, usage."""
        return transcript(self._recorder.state)

    def _repr_markdown_(self) -> str:
        return display.run_markdown(self._recorder.state)

    def _repr_html_(self) -> str:
        return display.run_html(self._recorder.state)


class ExecutionIterator:
    """One cursor over a run's events, from the first; ends after the terminal event.

    Raises :class:`~praison_push.protocol.ConnectionClosedError` when the client
    closes for good before the run ends. A cancelled ``__anext__`` loses no event.
    """

    def __init__(self, recorder: RunRecorder) -> None:
        self._recorder = recorder
        self._index = 0

    def __repr__(self) -> str:
        return f"<ExecutionIterator {self._recorder.state.execution_id} at {self._index}>"

    def __aiter__(self) -> ExecutionIterator:
        return self

    async def __anext__(self) -> ExecutionEvent:
        event = await self._recorder.event_at(self._index)
        self._index += 1
        return event


def _name(callback: Callable[..., Any]) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)
