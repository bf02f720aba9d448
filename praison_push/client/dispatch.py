"""Runs user handlers, in order, away from the receive loop.

The receive loop never runs user code: it posts work here and goes straight
back to reading, so a slow handler cannot delay replies (or pings) behind it.
One dispatcher task per client serves the queue in arrival order, so handlers
see messages in the order the gateway sent them. Sync handlers are called
directly on the loop; awaitables they return are awaited. A handler that raises
is logged and skipped — it never stops the dispatcher.

Acknowledgements ride on the same queue: a message is reported delivered only
after its handlers returned without raising (one that raised is reported
failed: not acknowledged, so the gateway redelivers it), and the client is
told when the queue runs empty (or every ``flush_every`` items under sustained
load), so it can acknowledge what was delivered in batches.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .values import ChannelMessage

__all__ = ["Dispatcher", "Handler"]

logger = logging.getLogger("praison_push.client")

#: A user handler: called with one argument; may return an awaitable.
Handler = Callable[[Any], Any]

_EVENT, _MESSAGE, _ACK, _STOP = range(4)
_Item = tuple[int, Any, Any]


class Dispatcher:
    """Handler registry plus the in-order queue that feeds it.

    Args:
        on_delivered: Called with each ``event_id`` whose handlers have run without
            raising (and with ids the client only needs to acknowledge again).
        on_flush: Awaited whenever the queue has run empty, after every
            ``flush_every`` items while it does not, and once at stop.
        flush_every: Upper bound on items between two ``on_flush`` calls.
        on_failed: Called with each ``event_id`` a handler raised on.
    """

    def __init__(
        self,
        *,
        on_delivered: Callable[[str], None],
        on_flush: Callable[[], Awaitable[None]],
        flush_every: int = 256,
        on_failed: Callable[[str], None] | None = None,
    ) -> None:
        self._on_delivered = on_delivered
        self._on_failed = on_failed
        self._on_flush = on_flush
        self._flush_every = flush_every
        self._handlers: dict[str, list[Handler]] = {}
        self._callbacks: dict[str, list[Handler]] = {}
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        #: The longest the queue has been (a bound's check, and a metric).
        self.queued_peak = 0
        self._room: tuple[int, asyncio.Event] | None = None

    # --- registry ----------------------------------------------------------

    def add_handler(self, event: str, handler: Handler) -> None:
        """Call ``handler`` for every ``event``."""
        self._handlers.setdefault(event, []).append(handler)

    def remove_handler(self, event: str, handler: Handler) -> bool:
        """Forget ``handler`` for ``event``; tell whether it was registered."""
        handlers = self._handlers.get(event, [])
        if handler not in handlers:
            return False
        handlers.remove(handler)
        return True

    def wants(self, event: str) -> bool:
        """Whether any handler listens for ``event`` (so unheard frames cost nothing)."""
        return bool(self._handlers.get(event))

    def add_callback(self, channel: str, callback: Handler) -> None:
        """Call ``callback`` for every message on ``channel``."""
        self._callbacks.setdefault(channel, []).append(callback)

    def remove_callback(self, channel: str, callback: Handler) -> bool:
        """Forget one channel callback; tell whether it was registered."""
        callbacks = self._callbacks.get(channel, [])
        if callback not in callbacks:
            return False
        callbacks.remove(callback)
        if not callbacks:
            del self._callbacks[channel]
        return True

    def has_callbacks(self, channel: str) -> bool:
        """Whether anything (a callback, a ``messages()`` stream) listens on ``channel``."""
        return bool(self._callbacks.get(channel))

    def clear_callbacks(self, channel: str | None = None) -> None:
        """Forget the callbacks of ``channel`` (of every channel when ``None``)."""
        if channel is None:
            self._callbacks.clear()
        else:
            self._callbacks.pop(channel, None)

    # --- queue -------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the dispatcher task is alive."""
        return self._task is not None and not self._task.done()

    def is_current_task(self) -> bool:
        """Whether the caller runs inside a handler (waiting on the dispatcher would deadlock)."""
        return self._task is not None and asyncio.current_task() is self._task

    def start(self) -> None:
        """Start a dispatcher task on the running loop (no-op while one takes new work).

        A dispatcher told to :meth:`stop` may still be draining its queue; a new
        one gets a new queue, so a quick reconnect never loses a dispatcher.
        """
        if self._queue is not None:
            return
        self._queue = queue = asyncio.Queue[_Item]()
        self._task = asyncio.get_running_loop().create_task(
            self._run(queue, self._callbacks), name="praison-push-dispatch"
        )

    def stop(self, on_drained: Callable[[], None] | None = None) -> None:
        """Let the dispatcher finish what is queued, then end; later posts are dropped.

        The draining dispatcher keeps the channel callbacks it had, so what is
        queued still reaches them; the next session starts with none.
        ``on_drained`` is called once the queue is drained (or the dispatcher
        is cancelled) — at once when no dispatcher runs.
        """
        self._callbacks = {}
        if self._queue is not None:
            self._queue.put_nowait((_STOP, on_drained, None))
            self._queue = None
        elif on_drained is not None:
            _call_quietly(on_drained)

    async def wait_stopped(self, timeout: float | None) -> None:
        """Wait for the dispatcher to end; cancel it if it takes longer than ``timeout``."""
        task = self._task
        if task is None or self.is_current_task():
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            logger.warning("handlers still running after %.1fs; cancelling them", timeout)
            task.cancel()
            await asyncio.wait({task})

    def post_event(self, event: str, payload: Any) -> None:
        """Queue a call of ``event``'s handlers with ``payload`` (skipped when nobody listens)."""
        if self._queue is not None and self.wants(event):
            self._queue.put_nowait((_EVENT, event, payload))

    def post_message(self, message: ChannelMessage) -> None:
        """Queue a channel message for its channel callbacks and ``channel_message`` handlers."""
        queue = self._queue
        if queue is not None:
            queue.put_nowait((_MESSAGE, message, None))
            if queue.qsize() > self.queued_peak:
                self.queued_peak = queue.qsize()

    @property
    def queued(self) -> int:
        """Work waiting for the handlers (messages, events, acknowledgements)."""
        return 0 if self._queue is None else self._queue.qsize()

    async def wait_room(self, at_most: int) -> None:
        """Wait until at most ``at_most`` items wait for the handlers (at once if no
        dispatcher runs). Never call it from a handler: only the handlers make room."""
        if self._queue is None or self._queue.qsize() <= at_most:
            return
        event = asyncio.Event()
        self._room = (at_most, event)
        try:
            await event.wait()
        finally:
            self._room = None

    def post_ack(self, event_id: str) -> None:
        """Queue an acknowledgement only (a duplicate that handlers already saw)."""
        if self._queue is not None:
            self._queue.put_nowait((_ACK, event_id, None))

    async def _run(self, queue: asyncio.Queue[_Item], callbacks: dict[str, list[Handler]]) -> None:
        try:
            await self._serve(queue, callbacks)
        finally:
            # Cancelled before reaching the stop marker: still run what it asked for.
            while not queue.empty():
                kind, first, _ = queue.get_nowait()
                if kind == _STOP and first is not None:
                    _call_quietly(first)

    async def _serve(
        self, queue: asyncio.Queue[_Item], callbacks: dict[str, list[Handler]]
    ) -> None:
        since_flush = 0
        while True:
            kind, first, second = await queue.get()
            if kind == _STOP:
                if first is not None:
                    _call_quietly(first)
                await self._flush()
                return
            if kind == _MESSAGE:
                handled = await self._deliver(first, callbacks)
                if first.event_id and handled:
                    self._on_delivered(first.event_id)
                elif first.event_id and self._on_failed is not None:
                    self._on_failed(first.event_id)
            elif kind == _ACK:
                self._on_delivered(first)
            else:
                for handler in tuple(self._handlers.get(first, ())):
                    await _call(handler, second, first)
            since_flush += 1
            room = self._room
            if room is not None and (queue.qsize() <= room[0] or queue is not self._queue):
                room[1].set()
            if since_flush >= self._flush_every or queue.empty():
                since_flush = 0
                await self._flush()

    async def _deliver(self, message: ChannelMessage, registry: dict[str, list[Handler]]) -> bool:
        """Run the message's callbacks and handlers; whether none of them raised."""
        handled = True
        callbacks = registry.get(message.channel)
        if callbacks:
            for callback in tuple(callbacks):
                handled = await _call(callback, message, message.channel) and handled
        handlers = self._handlers.get("channel_message")
        if handlers:
            for handler in tuple(handlers):
                handled = await _call(handler, message, "channel_message") and handled
        return handled

    async def _flush(self) -> None:
        try:
            await self._on_flush()
        except Exception:  # pragma: no cover - the client's on_flush already guards itself
            logger.exception("acknowledging delivered messages failed")


async def _call(handler: Handler, argument: Any, what: str) -> bool:
    """Run one handler; log (never propagate) what it raises. Whether it returned."""
    try:
        result = handler(argument)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("handler %s for %r raised", _name(handler), what)
        return False
    return True


def _call_quietly(function: Callable[[], None]) -> None:
    try:
        function()
    except Exception:
        logger.exception("dispatcher stop callback %r raised", function)


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
