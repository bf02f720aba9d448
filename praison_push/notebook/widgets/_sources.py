"""Hooking widgets to what feeds them: runs and clients, blocking or async.

The widgets are fed from the kernel through the public client API (DESIGN.md:
no browser WebSocket of their own), and must behave the same whichever face
the user holds:

* the blocking :class:`praison_push.sync.PushClient` (and its run handle) runs
  callbacks on its own worker thread, and its calls block the caller — so
  widgets subscribe in their constructor and are ready when displayed;
* the :class:`~praison_push.client.AsyncPushClient` and its
  :class:`~praison_push.client.Execution` must be driven on the client's event
  loop. In a notebook that loop is usually the kernel's own, running in this
  very thread (``await client.connect()`` in a cell): the work is scheduled
  with :func:`asyncio.ensure_future` and runs as soon as the cell yields. When
  the client lives on another thread's loop, it goes there with
  :func:`asyncio.run_coroutine_threadsafe`.

Either way, handlers run off the cell, so widgets update while a cell runs
and after it ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

from praison_push.client import AsyncPushClient
from praison_push.client import Execution as AsyncExecution

__all__ = [
    "ClientLink",
    "EventHandler",
    "answer_in_background",
    "compact",
    "read_event",
    "resolve",
    "watch_execution",
]

logger = logging.getLogger("praison_push.notebook")

T = TypeVar("T")

#: A widget's handler for one event (a run event, a message, a presence frame).
EventHandler = Callable[[Any], None]

#: Longest text of a value (a message body, a tool result) kept for display.
MAX_TEXT = 5_000


# --- values ------------------------------------------------------------------------------


def compact(value: Any, limit: int = MAX_TEXT) -> str:
    """``value`` as display text: strings as they are, anything else as one-line JSON.

    The JSON keeps a space after ``,`` and ``:``: a narrow column then wraps
    between its items instead of in the middle of a word.

    Cut at ``limit`` characters: the front end only shows the start, and the
    rest would cost bytes on every snapshot.
    """
    if isinstance(value, str):
        text = value
    else:
        try:
            text = _encode(value)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)


def read_event(event: Any) -> tuple[str, Mapping[str, Any], float]:
    """``(kind, data, when)`` of a run event, whatever shape it comes in.

    Accepts :class:`~praison_push.client.ExecutionEvent` (``kind``, ``data``,
    ``timestamp``), a mapping with ``kind``/``event`` and ``data``, or the bare
    PROTOCOL.md §4 data dict (whose ``event`` names the kind). ``when`` is the
    gateway's publication time when the event has one, else now: replayed
    events then keep their real timing.
    """
    if isinstance(event, Mapping):
        data: Any = event.get("data")
        if not isinstance(data, Mapping):
            data = event
        kind: Any = event.get("kind") or event.get("event") or data.get("event")
        stamp: Any = event.get("timestamp")
    else:
        data = getattr(event, "data", None)
        if not isinstance(data, Mapping):
            data = {}
        kind = getattr(event, "kind", None) or data.get("event")
        stamp = getattr(event, "timestamp", None)
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or stamp <= 0:
        stamp = time.time()
    return str(kind or ""), data, float(stamp)


async def resolve(value: Awaitable[T] | T) -> T:
    """Await ``value`` if it is awaitable: one code path for both client faces."""
    if inspect.isawaitable(value):
        return await value
    return value


def _run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (every call it made answered at once)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a blocking client call returned an awaitable")


# --- event loops -------------------------------------------------------------------------


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _home_loop(source: Any) -> asyncio.AbstractEventLoop | None:
    """The event loop an async client (or one of its runs) lives on, once connected."""
    for candidate in (source, getattr(source, "client", None)):
        loop = getattr(candidate, "loop", None)
        if isinstance(loop, asyncio.AbstractEventLoop):
            return loop
    return None


def _target_loop(source: Any) -> asyncio.AbstractEventLoop:
    loop = _home_loop(source) or _running_loop()
    if loop is None:
        raise RuntimeError(
            f"{type(source).__name__} is async and not connected, and no event loop runs "
            "here: connect it first (await client.connect()), or create the widget in a "
            "notebook cell or on the client's loop"
        )
    return loop


def _report(future: asyncio.Future[Any] | concurrent.futures.Future[Any], what: str) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        logger.warning("%s failed: %r", what, error)


def _spawn(
    source: Any,
    work: Callable[[], Coroutine[Any, Any, None]],
    what: str,
) -> None:
    """Run ``work()`` on ``source``'s loop: scheduled here if it runs here, else sent there."""
    loop = _target_loop(source)
    if loop is _running_loop():
        task = asyncio.ensure_future(work())
        task.add_done_callback(lambda done: _report(done, what))
    else:
        future = asyncio.run_coroutine_threadsafe(work(), loop)
        future.add_done_callback(lambda done: _report(done, what))


def _call_on_loop(source: Any, call: Callable[[], object], what: str) -> None:
    """Run a plain call on ``source``'s loop (now, if that loop runs in this thread)."""
    loop = _target_loop(source)
    if loop is _running_loop():
        call()
        return

    async def on_loop() -> None:
        call()

    future = asyncio.run_coroutine_threadsafe(on_loop(), loop)
    future.add_done_callback(lambda done: _report(done, what))


# --- runs --------------------------------------------------------------------------------


def watch_execution(execution: Any, handler: EventHandler) -> Callable[[], None]:
    """Feed ``handler`` every event of a run, past ones first; return how to stop.

    Works with the async :class:`~praison_push.client.Execution` (subscribed on
    its client's loop) and with any handle whose ``subscribe(callback)`` may be
    called from this thread, such as the blocking face's.
    """
    if isinstance(execution, AsyncExecution):
        _call_on_loop(execution, lambda: execution.subscribe(handler), "subscribing to the run")

        def detach_async() -> None:
            _call_on_loop(
                execution, lambda: execution.unsubscribe(handler), "unsubscribing from the run"
            )

        return detach_async
    subscribe = getattr(execution, "subscribe", None)
    if not callable(subscribe):
        raise TypeError(f"expected an Execution (with subscribe()), got {execution!r}")
    outcome = subscribe(handler)
    if inspect.isawaitable(outcome):
        _spawn(execution, lambda: resolve(outcome), "subscribing to the run")
    unsubscribe = getattr(execution, "unsubscribe", None)
    if not callable(unsubscribe):
        return lambda: None

    def detach() -> None:
        outcome = unsubscribe(handler)
        if inspect.isawaitable(outcome):
            _spawn(execution, lambda: resolve(outcome), "unsubscribing from the run")

    return detach


def answer_in_background(
    execution: Any, tool_call_id: str, approved: bool, reason: str | None
) -> None:
    """Answer a run's approval request without blocking this thread (a widget's
    button message arrives on the kernel's); a refusal is logged."""
    handle = getattr(execution, "async_execution", execution)  # the blocking face's
    if not callable(getattr(handle, "approve", None)):
        raise TypeError(f"expected an Execution (with approve()), got {execution!r}")

    async def answer() -> None:
        if not await handle.approve(tool_call_id, approved, reason):
            logger.info("no approval request of the run waits for %s", tool_call_id)

    _spawn(handle, answer, f"answering the approval request {tool_call_id}")


# --- clients -----------------------------------------------------------------------------


class ClientLink:
    """One widget's handlers on one client, blocking or async, and how to remove them.

    Args:
        client: A :class:`praison_push.sync.PushClient` or an
            :class:`~praison_push.client.AsyncPushClient`.
    """

    def __init__(self, client: Any) -> None:
        on = getattr(client, "on", None)
        if not callable(on) or not callable(getattr(client, "subscribe", None)):
            raise TypeError(f"expected a praison_push client, got {client!r}")
        self.client = client
        self.is_async = isinstance(client, AsyncPushClient) or inspect.iscoroutinefunction(
            client.subscribe
        )
        self._handlers: list[tuple[str, EventHandler]] = []

    def start(
        self,
        handlers: Mapping[str, EventHandler],
        setup: Callable[[Any], Coroutine[Any, Any, None]],
        what: str,
    ) -> None:
        """Register ``handlers``, then run ``setup(client)`` (subscribe, fetch initial state).

        ``setup`` awaits every client call through :func:`resolve`. With the
        blocking client nothing suspends, so it runs to its end here and now;
        with the async client it is scheduled on the client's loop.
        """
        for event, handler in handlers.items():
            self.client.on(event)(handler)
            self._handlers.append((event, handler))
        if self.is_async:
            _spawn(self.client, lambda: setup(self.client), what)
        else:
            _run_inline(setup(self.client))

    def run(self, work: Callable[[Any], Coroutine[Any, Any, None]], what: str) -> None:
        """Run ``work(client)`` as :meth:`start` runs its setup: here for the blocking
        client (from a callback thread too), on the client's loop for the async one."""
        if self.is_async:
            _spawn(self.client, lambda: work(self.client), what)
        else:
            _run_inline(work(self.client))

    def stop(self) -> None:
        """Remove the handlers (channels stay subscribed: other code may rely on them)."""
        handlers, self._handlers = self._handlers, []
        for event, handler in handlers:
            self.client.off(event, handler)
