"""Turns any kind of agent into one async stream of events.

An agent may be a plain function, a coroutine function, a generator or an async
generator, taking ``(input)`` or ``(input, context)``; it yields tokens and
:mod:`~praison_push.agents.events`, or returns a final string. Synchronous
agents run on a worker thread so a slow model call never blocks the gateway's
event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .context import AgentContext
from .events import AgentEvent

__all__ = ["AgentSpec", "AgentTypeError", "iterate_agent"]

_DONE = object()


class AgentTypeError(TypeError):
    """The registered object cannot be run as an agent."""


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent: the callable and how to call it."""

    name: str
    fn: Callable[..., Any]
    wants_context: bool
    description: str = ""

    @classmethod
    def of(cls, name: str, fn: Callable[..., Any], description: str = "") -> AgentSpec:
        if not callable(fn):
            raise AgentTypeError(f"agent {name!r} must be callable, got {type(fn).__name__}")
        return cls(name, fn, _wants_context(fn), description or (inspect.getdoc(fn) or ""))


def _wants_context(fn: Callable[..., Any]) -> bool:
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    # A second positional parameter *without a default* is the context slot;
    # ``def agent(prompt, model="gpt-4o")`` must not receive the context as ``model``.
    required = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(required) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


async def iterate_agent(spec: AgentSpec, text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
    """Run ``spec`` on ``text`` and yield what it produces, in order.

    A returned (not yielded) string arrives as a single token, so every
    watcher sees the answer through the same event.
    """
    args: tuple[Any, ...] = (text, ctx) if spec.wants_context else (text,)
    fn = spec.fn
    # An agent object (ChatAgent) is as its __call__ is.
    kind = fn if inspect.isroutine(fn) else type(fn).__call__
    if inspect.isasyncgenfunction(kind):
        async for event in fn(*args):
            yield event
        return
    if inspect.isgeneratorfunction(kind):
        async for event in _iterate_in_thread(lambda: fn(*args), ctx):
            yield event
        return
    if inspect.iscoroutinefunction(kind):
        result = await fn(*args)
    else:
        result = await asyncio.to_thread(fn, *args)
    async for event in _results(result, ctx):
        yield event


async def _results(result: Any, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
    """Events from what a non-generator agent returned."""
    if result is None:
        return
    if inspect.isawaitable(result):
        result = await result
    if isinstance(result, str):
        yield result
    elif hasattr(result, "__aiter__"):
        async for event in result:
            yield event
    elif isinstance(result, Iterable):
        iterator = iter(result)
        async for event in _iterate_in_thread(lambda: iterator, ctx):
            yield event
    else:
        yield str(result)


async def _iterate_in_thread(
    make: Callable[[], Iterable[Any]], ctx: AgentContext
) -> AsyncIterator[AgentEvent]:
    """Drive a synchronous iterator on a worker thread, one item at a time.

    Each item is fetched by its own ``to_thread`` call, so the thread never runs
    ahead of the consumer and a cancelled run stops pulling at once.
    """
    iterator: Iterator[Any] = iter(await asyncio.to_thread(make))

    def pull() -> Any:
        return next(iterator, _DONE)

    while not ctx.cancelled:
        item = await asyncio.to_thread(pull)
        if item is _DONE:
            return
        yield item
