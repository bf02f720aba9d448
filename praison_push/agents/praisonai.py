"""Adapter for ``praisonaiagents.Agent``: its answer, tool calls and usage, live.

The adapter recognises the agent by its class's module instead of importing
``praisonaiagents``, so nothing is imported unless the user already has an
agent object of that library in hand.

What ``praisonaiagents`` (1.7) offers, and what the adapter makes of it:

- ``Agent.iter_stream(prompt)`` yields the answer's text as the model streams
  it: each piece becomes a token.
- ``Agent.stream_emitter`` calls back with ``StreamEvent``\\ s from whichever
  thread is working: ``tool_call_start`` (tool name, parsed arguments, the
  model's call id) becomes a :class:`ToolCall`; ``tool_call_result`` (a result
  summary of at most 500 characters, ``metadata.duration_ms``) its
  :class:`ToolResult`. ``delta_tool_call`` (argument text) and reasoning
  (``is_reasoning``) are forwarded when the library emits them — its
  ``iter_stream`` path over the OpenAI SDK does not, so with it a tool call
  appears whole, with its arguments, once the model finished it.
- A tool that raises ends the library's stream (``ToolExecutionError``): the
  open call is reported failed and the run ends ``TOOL_EXECUTION_FAILED``.
- Usage: the growth of ``Agent.cost_summary`` (``tokens_in``/``tokens_out``)
  over the run, when the library counted any (its streaming path often does
  not; the gateway then counts the streamed tokens).
- Cancellation: the run stops at once; the agent's worker thread closes the
  library's stream before its next piece (the library has no way to interrupt
  a model call already waiting for its next chunk). The library's clean-up on
  close may wait on its model connection: the agent's next run waits for it at
  most ``CLOSE_WAIT`` seconds.

One ``Agent`` keeps one chat history, so its runs take turns; each run gets
the conversation's earlier turns (``context.history``) as that history.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from .context import AgentContext
from .events import AgentEvent, Reasoning, ToolCall, ToolCallDelta, ToolResult, Usage

__all__ = ["adapt", "is_praisonai_agent"]

#: Events waiting between the agent's thread and the run (the thread waits when full).
QUEUE_SIZE = 256
#: How often a waiting worker thread checks whether its run was cancelled (seconds).
POLL = 0.05

#: How long a cancelled run's thread waits for the library to close its stream before it
#: lets the agent's next run go (the library's close may wait on its model connection).
CLOSE_WAIT = 2.0

_END = object()
logger = logging.getLogger("praison_push.agents")


def is_praisonai_agent(obj: Any) -> bool:
    """Whether ``obj`` is an agent object of the ``praisonaiagents`` package."""
    module = type(obj).__module__ or ""
    return module == "praisonaiagents" or module.startswith("praisonaiagents.")


def adapt(agent: Any) -> Callable[..., Any]:
    """Return a callable our runner understands for ``agent``.

    A ``praisonaiagents.Agent`` becomes an async generator of tokens, tool
    calls, results and usage (see the module docstring). Plain callables pass
    through.
    """
    if not is_praisonai_agent(agent):
        if inspect.isclass(agent) or not callable(agent):
            raise TypeError(
                f"an agent must be a function, coroutine function, (async) generator or "
                f"praisonaiagents.Agent; got {type(agent).__name__}"
            )
        return agent  # type: ignore[no-any-return]
    turn = threading.Lock()

    async def praisonai_agent(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
        if not hasattr(agent, "iter_stream") and hasattr(agent, "astart"):
            answer = await agent.astart(text)  # an agent that only answers, asynchronously
            if answer:
                yield str(answer)
            return
        queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        worker = _Worker(agent, text, ctx, asyncio.get_running_loop(), queue, turn)
        threading.Thread(target=worker.run, name="praison-push-praisonai", daemon=True).start()
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            worker.stop.set()

    praisonai_agent.__doc__ = getattr(agent, "instructions", None) or getattr(agent, "role", None)
    return praisonai_agent


def _event_kind(event: Any) -> str:
    kind = getattr(event, "type", None)
    return str(getattr(kind, "value", kind))


class _Worker:
    """Drives one run of the agent on its own thread and hands events to the run."""

    def __init__(
        self,
        agent: Any,
        text: str,
        ctx: AgentContext,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
        turn: threading.Lock,
    ) -> None:
        self.agent, self.text, self.ctx = agent, text, ctx
        self.loop, self.queue, self.turn = loop, queue, turn
        self.stop = threading.Event()
        self.open: dict[str, ToolCall] = {}
        self.delta_ids: dict[int, str] = {}
        self.lock = threading.Lock()

    def put(self, item: Any) -> bool:
        """Hand ``item`` to the run, waiting while its queue is full; ``False`` once stopped."""
        if self.stop.is_set():
            return False
        future = asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop)
        while True:
            try:
                future.result(POLL)
                return True
            except concurrent.futures.TimeoutError:
                if self.stop.is_set():
                    future.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False  # the loop is closing

    def run(self) -> None:
        while not self.turn.acquire(timeout=POLL):
            if self.stop.is_set():
                return
        try:
            self._converse()
        except BaseException as exc:  # handed to the run, which reports it
            self._fail_open_calls(exc)
            self.put(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        finally:
            self.turn.release()
            self.put(_END)

    def _converse(self) -> None:
        agent = self.agent
        if hasattr(agent, "chat_history"):
            agent.chat_history = [dict(turn) for turn in self.ctx.history]
        before = _counted(agent)
        emitter = getattr(agent, "stream_emitter", None)
        if emitter is not None:
            emitter.add_callback(self.on_event)
        try:
            if hasattr(agent, "iter_stream"):
                stream = agent.iter_stream(self.text)
                try:
                    for piece in stream:
                        if self.stop.is_set() or (piece and not self.put(str(piece))):
                            break
                finally:
                    _close_within(stream, CLOSE_WAIT)
            else:
                answer = agent.start(self.text)
                if answer:
                    self.put(str(answer))
        finally:
            if emitter is not None:
                emitter.remove_callback(self.on_event)
        used = _counted(agent)
        if used is not None and before is not None and used != before:
            self.put(Usage(used[0] - before[0], used[1] - before[1]))

    def on_event(self, event: Any) -> None:
        """The library's stream callback (any of its threads)."""
        kind = _event_kind(event)
        call = getattr(event, "tool_call", None) or {}
        if kind in ("delta_text", "first_token"):
            if getattr(event, "is_reasoning", False) and getattr(event, "content", None):
                self.put(Reasoning(str(event.content)))
        elif kind == "delta_tool_call" and isinstance(call, Mapping):
            self._delta(call)
        elif kind == "tool_call_start" and isinstance(call, Mapping):
            arguments = call.get("arguments")
            started = ToolCall(
                str(call.get("name") or "tool"),
                dict(arguments) if isinstance(arguments, Mapping) else None,
                **({"id": str(call["id"])} if call.get("id") else {}),
            )
            with self.lock:
                self.open[started.id] = started
            self.put(started)
        elif kind == "tool_call_result" and isinstance(call, Mapping):
            with self.lock:
                known = self.open.pop(str(call.get("id")), None)
            if known is None:
                return
            metadata = getattr(event, "metadata", None) or {}
            duration = metadata.get("duration_ms") if isinstance(metadata, Mapping) else None
            self.put(ToolResult(known, call.get("result"), duration_ms=duration))

    def _delta(self, call: Mapping[str, Any]) -> None:
        given = call.get("index")
        index = given if isinstance(given, int) else 0
        if call.get("id"):
            self.delta_ids[index] = str(call["id"])
        call_id = self.delta_ids.get(index)
        arguments = call.get("arguments")
        if call_id and isinstance(arguments, str) and arguments:
            name = call.get("name")
            self.put(ToolCallDelta(call_id, arguments, str(name) if name else None))

    def _fail_open_calls(self, exc: BaseException) -> None:
        with self.lock:
            open_calls, self.open = list(self.open.values()), {}
        for call in open_calls:
            self.put(ToolResult(call, error=str(exc) or type(exc).__name__))


def _close_within(stream: Any, seconds: float) -> None:
    """Close the library's stream (``GeneratorExit`` inside it), waiting at most ``seconds``.

    Closing runs the library's own clean-up, which can wait on its model connection;
    past the bound it finishes on its own thread and the agent's next run does not wait.
    """
    close = getattr(stream, "close", None)
    if close is None:
        return
    closer = threading.Thread(target=_quietly, args=(close,), name="praison-push-close")
    closer.daemon = True
    closer.start()
    closer.join(seconds)


def _quietly(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:  # the run already ended; the library's clean-up has nobody to tell
        logger.debug("praisonaiagents stream close failed", exc_info=True)


def _counted(agent: Any) -> tuple[int, int] | None:
    """``(tokens_in, tokens_out)`` the library counted for ``agent`` so far."""
    try:
        summary = agent.cost_summary
    except Exception:
        return None
    if not isinstance(summary, Mapping):
        return None
    tokens_in, tokens_out = summary.get("tokens_in"), summary.get("tokens_out")
    if isinstance(tokens_in, int) and isinstance(tokens_out, int):
        return tokens_in, tokens_out
    return None
