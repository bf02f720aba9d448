"""``await client.execute(...)``: a live handle on one agent run (PROTOCOL.md §4).

A run's events are ordinary publications on channel ``executions:<id>``. The
client routes them to the run's :class:`Execution` from its receive loop, after
de-duplication, so the handle sees each event once and in the gateway's order —
also across a reconnect, since the run channel is resubscribed with ``since``
like any other. The handle only records: it updates its fields, appends an
:class:`ExecutionEvent` and wakes whoever waits. User code never runs in the
receive loop; iterators and :meth:`Execution.subscribe` callbacks read the
recorded events at their own pace, each from the first one, so a consumer that
starts late (a notebook widget rendered after the run began) misses nothing.
"""

from __future__ import annotations

import asyncio
import html
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from praison_push.protocol import ChannelMessage, ExecutionFailed, encode_json

if TYPE_CHECKING:
    from .client import AsyncPushClient

__all__ = [
    "EXECUTION_STATUSES",
    "TERMINAL_EVENTS",
    "EventCallback",
    "Execution",
    "ExecutionEvent",
    "ExecutionIterator",
]

logger = logging.getLogger("praison_push.client")

#: The events that end a run (PROTOCOL.md §4).
TERMINAL_EVENTS = frozenset({"execution_complete", "execution_error"})
#: The values :attr:`Execution.status` takes.
EXECUTION_STATUSES = ("running", "completed", "failed", "cancelled")

#: Called with each :class:`ExecutionEvent`; may return an awaitable.
EventCallback = Callable[["ExecutionEvent"], Any]

#: Output shown by the rich reprs before it is cut (the handle keeps all of it).
_REPR_OUTPUT_CHARS = 4_000


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else encode_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mapping(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


@dataclass(frozen=True)
class ExecutionEvent:
    """One event of a run, as published on its channel.

    The convenience attributes read the fields PROTOCOL.md §4 defines for each
    kind and are ``None`` where the kind has no such field, so a consumer can
    write ``if event.token is not None`` without checking ``kind`` first.

    Attributes:
        kind: ``execution_start``, ``execution_token``, ``execution_tool``,
            ``execution_complete`` or ``execution_error`` (others are kept
            as they come, for forward compatibility).
        data: The event's fields as published (``event`` included).
        event_id: The publication's id (empty for an event the client made up).
        offset: The publication's position in the run channel's history.
        timestamp: When the gateway published it, seconds since the epoch.
    """

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict, hash=False)
    event_id: str = ""
    offset: int | None = None
    timestamp: float = 0.0

    @classmethod
    def from_message(cls, message: ChannelMessage) -> ExecutionEvent | None:
        """The event a run-channel message carries (``None`` if it carries none)."""
        data = message.data
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            return None
        return cls(data["event"], data, message.event_id, message.offset, message.timestamp)

    @property
    def is_terminal(self) -> bool:
        """Whether this event ends the run."""
        return self.kind in TERMINAL_EVENTS

    @property
    def execution_id(self) -> str | None:
        """The run it belongs to."""
        value = self.data.get("execution_id")
        return value if isinstance(value, str) else None

    @property
    def token(self) -> str | None:
        """The streamed text of an ``execution_token``."""
        value = self.data.get("token") if self.kind == "execution_token" else None
        return value if isinstance(value, str) else None

    @property
    def index(self) -> int | None:
        """The 0-based position of an ``execution_token`` among the run's token events."""
        value = self.data.get("index") if self.kind == "execution_token" else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def count(self) -> int | None:
        """How many agent tokens an ``execution_token`` carries.

        The gateway sends tokens that an agent yields faster than its token
        interval together, as one event; ``count`` says how many (1 when absent).
        """
        if self.kind != "execution_token":
            return None
        value = self.data.get("count", 1)
        return value if isinstance(value, int) and not isinstance(value, bool) else 1

    @property
    def tool_call(self) -> dict[str, Any] | None:
        """The ``tool_call`` of an ``execution_tool`` (``id``, ``name``, ``status`` …)."""
        return _mapping(self.data.get("tool_call")) if self.kind == "execution_tool" else None

    @property
    def status(self) -> str | None:
        """The run status this event reports (start and terminal events)."""
        value = self.data.get("status")
        return value if isinstance(value, str) else None

    @property
    def output(self) -> str | None:
        """The whole answer, on ``execution_complete``."""
        value = self.data.get("output") if self.kind == "execution_complete" else None
        return value if isinstance(value, str) else None

    @property
    def usage(self) -> dict[str, Any] | None:
        """Token counts, on ``execution_complete``."""
        return _mapping(self.data.get("usage")) if self.kind == "execution_complete" else None

    @property
    def error(self) -> dict[str, Any] | None:
        """``{code, message, details?}``, on ``execution_error``."""
        return _mapping(self.data.get("error")) if self.kind == "execution_error" else None

    def to_dict(self) -> dict[str, Any]:
        """The event's fields as published, e.g. for one JSON line per event."""
        return {"event": self.kind, **self.data}

    def __str__(self) -> str:
        if self.token is not None:
            return f"token {self.index}: {self.token!r}"
        call = self.tool_call
        if call is not None:
            return f"tool {call.get('name')} {call.get('status')}"
        error = self.error
        if error is not None:
            return f"{self.status}: {error.get('code')}: {error.get('message')}"
        if self.kind == "execution_complete":
            return f"completed: {_short(self.output or '', 60)}"
        return self.kind if self.status is None else f"{self.kind} ({self.status})"


class Execution:
    """A live, growing record of one agent run; returned by ``execute`` and ``attach``.

    The fields follow the run as its events arrive and keep their values after
    it ends. ``async for event in execution`` yields every event from the first
    one up to and including the terminal one; each loop gets its own cursor, so
    several consumers each see the whole run.

    Attributes:
        execution_id: The gateway's id of the run (``exec_…``).
        agent_id: The agent that runs (learnt from the events after ``attach``).
        channel: The run's channel, ``executions:<execution_id>``.
        status: ``"running"``, then ``"completed"``, ``"failed"`` or ``"cancelled"``.
        tokens: The streamed text, one entry per ``execution_token`` event, in
            order (an entry holds several agent tokens when the gateway sent
            them together).
        token_count: How many agent tokens arrived (each event's ``count``).
        tool_calls: One dict per tool call in the order they started, updated
            in place as the call goes from ``calling`` to ``completed``/``failed``.
        usage: ``{prompt_tokens, completion_tokens, total_tokens}`` once completed.
        latency_ms: The gateway's measure of the run's duration, once completed.
        error: ``{code, message, details?}`` once failed or cancelled.
        events: Every event so far, in order.
        gap: ``True`` when some events were no longer in the gateway's history
            when this client (re)subscribed, so the record is incomplete.
    """

    def __init__(
        self,
        execution_id: str,
        agent_id: str = "",
        *,
        channel: str | None = None,
        client: AsyncPushClient | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.agent_id = agent_id
        self.channel = channel or f"executions:{execution_id}"
        self.status = "running"
        self.tokens: list[str] = []
        self.token_count = 0
        self.tool_calls: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None
        self.latency_ms: int | None = None
        self.error: dict[str, Any] | None = None
        self.events: list[ExecutionEvent] = []
        self.gap = False
        self._client = client
        self._tools: dict[str, dict[str, Any]] = {}
        self._seen: set[str] = set()
        self._final_output: str | None = None
        self._terminal: ExecutionEvent | None = None
        self._failure: BaseException | None = None
        self._changed = asyncio.Event()
        self._settled = asyncio.Event()
        self._callbacks: dict[EventCallback, asyncio.Task[None]] = {}

    # --- reading -----------------------------------------------------------------

    @property
    def output(self) -> str:
        """The answer so far: the streamed tokens, then the final output once completed."""
        if self._final_output is not None:
            return self._final_output
        return "".join(self.tokens)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop of the client that watches this run."""
        return None if self._client is None else self._client.loop

    @property
    def done(self) -> bool:
        """Whether the run's terminal event has arrived."""
        return self._terminal is not None

    def __aiter__(self) -> ExecutionIterator:
        return ExecutionIterator(self)

    async def wait(self, timeout: float | None = None) -> Execution:
        """Wait until the run has ended, however it ended; returns this handle.

        Raises:
            TimeoutError: Still running after ``timeout`` seconds (the run goes on).
            ConnectionClosedError: The client closed for good before the run ended.
        """
        if not self._settled.is_set():
            try:
                await asyncio.wait_for(self._settled.wait(), timeout)
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(
                    f"execution {self.execution_id} still running after {timeout}s"
                ) from None
        if self._failure is not None and self._terminal is None:
            raise self._failure
        return self

    async def result(self, timeout: float | None = None) -> str:
        """The run's final output, once it completed.

        Raises:
            ExecutionFailed: The run failed or was cancelled (``code``, ``message``).
            TimeoutError: Still running after ``timeout`` seconds (the run goes on).
            ConnectionClosedError: The client closed for good before the run ended.
        """
        await self.wait(timeout)
        if self.status == "completed":
            return self.output
        error = self.error or {}
        details = error.get("details")
        raise ExecutionFailed(
            str(error.get("code", "UNKNOWN")),
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
        if self._client is None:
            raise RuntimeError("this Execution is not attached to a client")
        ok = await self._client._cancel_execution(self.execution_id)
        if ok:
            try:
                await asyncio.wait_for(self._settled.wait(), self._client._request_timeout)
            except asyncio.TimeoutError:
                logger.info("no terminal event for cancelled %s yet", self.execution_id)
        return ok

    # --- callbacks -------------------------------------------------------------------

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
                    event = await self._event_at(index)
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

    # --- fed by the client (receive loop: no awaits, no user code) ----------------------

    async def _event_at(self, index: int) -> ExecutionEvent:
        """The ``index``-th event, waiting for it; cancel-safe."""
        while index >= len(self.events):
            if self._terminal is not None:
                raise StopAsyncIteration
            if self._failure is not None:
                raise self._failure
            changed = self._changed
            await changed.wait()
        return self.events[index]

    def _feed(self, message: ChannelMessage) -> None:
        """Record one message of the run's channel, unless it was recorded already.

        The handle de-duplicates by ``event_id`` itself (redeliveries, replays
        after a reconnect), rather than relying on the client's window of
        recent ids: a run attached again is replayed with ids the client saw
        when it watched the run the first time.
        """
        if message.event_id:
            if message.event_id in self._seen:
                return
            self._seen.add(message.event_id)
        event = ExecutionEvent.from_message(message)
        if event is None:
            logger.debug("ignoring a non-event message on %s", self.channel)
            return
        self._record(event)

    def _record(self, event: ExecutionEvent) -> None:
        if self._terminal is not None:
            logger.debug("ignoring %s after the end of %s", event.kind, self.execution_id)
            return
        self._apply(event)
        self.events.append(event)
        if event.is_terminal:
            self._terminal = event
            self._settled.set()
            if self._client is not None:
                self._client._execution_ended(self)
        self._notify()

    def _apply(self, event: ExecutionEvent) -> None:
        agent_id = event.data.get("agent_id")
        if not self.agent_id and isinstance(agent_id, str):
            self.agent_id = agent_id
        if event.token is not None:
            self.tokens.append(event.token)
            self.token_count += event.count or 1
        elif event.kind == "execution_tool":
            self._apply_tool(event.tool_call)
        elif event.kind == "execution_complete":
            self.status = event.status or "completed"
            self._final_output = event.output if event.output is not None else self.output
            self.usage = event.usage
            latency = event.data.get("latency_ms")
            if isinstance(latency, (int, float)) and not isinstance(latency, bool):
                self.latency_ms = round(latency)
        elif event.kind == "execution_error":
            self.status = event.status if event.status in ("failed", "cancelled") else "failed"
            self.error = event.error or {"code": "UNKNOWN", "message": ""}

    def _apply_tool(self, call: dict[str, Any] | None) -> None:
        if call is None:
            return
        key = call.get("id")
        key = key if isinstance(key, str) and key else f"#{len(self.tool_calls)}"
        known = self._tools.get(key)
        if known is None:
            self._tools[key] = known = {}
            self.tool_calls.append(known)
        known.update(call)

    def _lost(self, reason: str) -> None:
        """End the run locally: the gateway no longer has it (its history is gone)."""
        self.gap = True
        error = {"code": "EXECUTION_LOST", "message": reason}
        data = {
            "event": "execution_error",
            "execution_id": self.execution_id,
            "agent_id": self.agent_id,
            "status": "failed",
            "error": error,
        }
        self._record(ExecutionEvent("execution_error", data))

    def _fail(self, error: BaseException) -> None:
        """The client closed for good before the run ended: release every waiter."""
        if self._terminal is None and self._failure is None:
            self._failure = error
            self._settled.set()
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # --- display -------------------------------------------------------------------

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
        from .transcript import replay, transcript

        state = replay((event.kind, event.data) for event in self.events)
        state.execution_id = state.execution_id or self.execution_id
        state.agent_id = state.agent_id or self.agent_id
        return transcript(state)

    def _summary(self) -> str:
        count = self.token_count
        parts = [self.status, f"{count} token{'' if count == 1 else 's'}"]
        if self.tool_calls:
            calls = len(self.tool_calls)
            parts.append(f"{calls} tool call{'' if calls == 1 else 's'}")
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms} ms")
        return ", ".join(parts)

    def _repr_markdown_(self) -> str:
        lines = [
            f"**Execution** {_code_span(self.execution_id)} of agent "
            f"{_code_span(self.agent_id or '?')}: {self._summary()}",
            "",
        ]
        for call in self.tool_calls:
            line = f"- ⚙ {_code_span(str(call.get('name')))} {_code_span(_call_text(call))}"
            lines.append(f"{line} ({_code_span(str(call.get('status')))})")
        if self.error is not None:
            message = f"{self.error.get('code')}: {self.error.get('message')}"
            lines += ["", f"Error: {_code_span(_short(message, 400))}"]
        output = self.output
        if output:
            lines += ["", _code_block(_cut(output))]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        escape = html.escape
        rows = [
            f"<b>Execution</b> <code>{escape(self.execution_id)}</code> of agent "
            f"<code>{escape(self.agent_id or '?')}</code>: {escape(self._summary())}"
        ]
        if self.tool_calls:
            items = "".join(
                f"<li>⚙ <code>{escape(str(call.get('name')))}</code> "
                f"<code>{escape(_call_text(call))}</code> ({escape(str(call.get('status')))})</li>"
                for call in self.tool_calls
            )
            rows.append(f"<ul>{items}</ul>")
        if self.error is not None:
            message = f"{self.error.get('code')}: {self.error.get('message')}"
            rows.append(f"<div>Error: <code>{escape(_short(message, 400))}</code></div>")
        output = self.output
        if output:
            rows.append(f"<pre style='white-space: pre-wrap'>{escape(_cut(output))}</pre>")
        return f"<div class='praison-push-execution'>{''.join(rows)}</div>"


class ExecutionIterator:
    """One cursor over a run's events, from the first; ends after the terminal event.

    Raises :class:`~praison_push.protocol.ConnectionClosedError` when the client
    closes for good before the run ends. A cancelled ``__anext__`` loses no event.
    """

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        self._index = 0

    def __repr__(self) -> str:
        return f"<ExecutionIterator {self._execution.execution_id} at {self._index}>"

    def __aiter__(self) -> ExecutionIterator:
        return self

    async def __anext__(self) -> ExecutionEvent:
        event = await self._execution._event_at(self._index)
        self._index += 1
        return event


def _call_text(call: Mapping[str, Any]) -> str:
    """``{args} → result`` of a tool call, shortened for display."""
    text = _short(call.get("arguments", {}), 200)
    if "result" in call:
        text += f" → {_short(call['result'], 200)}"
    elif "error" in call:
        text += f" ✗ {_short(call['error'], 200)}"
    return text


def _cut(text: str) -> str:
    if len(text) <= _REPR_OUTPUT_CHARS:
        return text
    return text[:_REPR_OUTPUT_CHARS] + f"… ({len(text) - _REPR_OUTPUT_CHARS} more characters)"


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _code_span(text: str) -> str:
    """``text`` as a Markdown code span: shown literally, whatever it contains."""
    text = text.replace("\n", " ")
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_block(text: str) -> str:
    """``text`` as a fenced Markdown code block longer than any backtick run inside it."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}text\n{text}\n{fence}"


def _name(callback: Callable[..., Any]) -> str:
    return getattr(callback, "__qualname__", None) or repr(callback)
