"""The record of one agent run as its events arrive: the input side of a run handle.

A run's events are ordinary publications on channel ``executions:<id>``
(PROTOCOL.md §4). The client's run registry (:mod:`.runs`) hands each message
of that channel to the run's :class:`RunRecorder` from the receive loop; the
recorder keeps every event in order, folds it into a
:class:`~praison_push.protocol.runs.RunState` (the pure reducer every layer
shares), and wakes whoever waits. It never awaits and never runs user code:
the :class:`~.execution.Execution` handle users hold reads the record at its
own pace, so a consumer that starts late misses nothing.

The recorder de-duplicates by ``event_id`` itself (redeliveries, replays after
a reconnect) rather than relying on the client's window of recent ids: a run
attached again is replayed with ids the client saw when it watched it before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from praison_push.protocol.runs import (
    RunErrorCode,
    RunEvent,
    RunState,
    RunStatus,
    run_channel,
)

from .values import ChannelMessage, ExecutionEvent

__all__ = ["RunRecorder"]

logger = logging.getLogger("praison_push.client")


class RunRecorder:
    """Every event of one run, the state they add up to, and wake-ups for readers.

    Args:
        execution_id: The gateway's id of the run.
        agent_id: The agent, when known (else learnt from the events).
        channel: The run's channel (``executions:<execution_id>`` by default).
        on_end: Called once with this recorder when the run's terminal event
            is recorded (the registry then drops the run's subscription).

    Attributes:
        state: What the run produced so far (tokens, tool calls, status …).
        events: Every event recorded, in order.
        gap: Some events were no longer in the gateway's history.
        failure: Why the run can no longer be followed (the client closed for
            good before it ended), if so.
    """

    def __init__(
        self,
        execution_id: str,
        agent_id: str = "",
        *,
        channel: str | None = None,
        on_end: Callable[[RunRecorder], None] | None = None,
    ) -> None:
        self.channel = channel or run_channel(execution_id)
        self.state = RunState(execution_id, agent_id, RunStatus.RUNNING.value)
        self.events: list[ExecutionEvent] = []
        self.gap = False
        self.failure: BaseException | None = None
        self._on_end = on_end
        self._seen: set[str] = set()
        self._changed = asyncio.Event()
        self._settled = asyncio.Event()

    def __repr__(self) -> str:
        return f"<RunRecorder {self.state.execution_id} {len(self.events)} events>"

    @property
    def done(self) -> bool:
        """Whether the run's terminal event was recorded."""
        return self.state.done

    @property
    def settled(self) -> bool:
        """Whether nothing more will be recorded: the run ended, or the client closed."""
        return self._settled.is_set()

    # --- input (the receive loop: no awaits, no user code) ------------------------------

    def record(self, message: ChannelMessage) -> None:
        """Record one message of the run's channel, unless it was recorded already."""
        if message.event_id:
            if message.event_id in self._seen:
                return
            self._seen.add(message.event_id)
        event = ExecutionEvent.from_message(message)
        if event is None:
            logger.debug("ignoring a non-event message on %s", self.channel)
            return
        self.record_event(event)

    def record_event(self, event: ExecutionEvent) -> None:
        """Fold ``event`` into the state and append it (nothing is recorded after the end)."""
        if self.done:
            logger.debug("ignoring %s after the end of %s", event.kind, self.state.execution_id)
            return
        self.state.apply(event.kind, event.data)
        self.events.append(event)
        if self.done:
            self._settled.set()
            if self._on_end is not None:
                self._on_end(self)
        self._notify()

    def lose(self, reason: str) -> None:
        """End the run here: the gateway no longer has it (its history is gone)."""
        self.gap = True
        state = self.state
        data = {
            "event": RunEvent.ERROR.value,
            "execution_id": state.execution_id,
            "agent_id": state.agent_id,
            "status": RunStatus.FAILED.value,
            "error": {"code": RunErrorCode.EXECUTION_LOST.value, "message": reason},
        }
        self.record_event(ExecutionEvent(RunEvent.ERROR.value, data))

    def fail(self, error: BaseException) -> None:
        """The client closed for good before the run ended: release every waiter with ``error``."""
        if not self.done and self.failure is None:
            self.failure = error
            self._settled.set()
            self._notify()

    # --- output (any task on the client's loop) ------------------------------------------

    async def event_at(self, index: int) -> ExecutionEvent:
        """The ``index``-th event, waiting for it; cancel-safe.

        Raises:
            StopAsyncIteration: The run ended before an ``index``-th event.
            BaseException: :attr:`failure`, once the client closed before the end.
        """
        while index >= len(self.events):
            if self.done:
                raise StopAsyncIteration
            if self.failure is not None:
                raise self.failure
            changed = self._changed
            await changed.wait()
        return self.events[index]

    async def wait_settled(self) -> None:
        """Wait until the run ended, or the client closed before it did."""
        await self._settled.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
