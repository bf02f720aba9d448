"""Adapter for ``praisonaiagents.Agent``, used only when that package is installed.

The adapter recognises the agent by its class's module instead of importing
``praisonaiagents``, so nothing is imported unless the user already has an
agent object of that library in hand.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["adapt", "is_praisonai_agent"]


def is_praisonai_agent(obj: Any) -> bool:
    """Whether ``obj`` is an agent object of the ``praisonaiagents`` package."""
    module = type(obj).__module__ or ""
    return module == "praisonaiagents" or module.startswith("praisonaiagents.")


def adapt(agent: Any) -> Callable[..., Any]:
    """Return a callable our runner understands for ``agent``.

    A ``praisonaiagents.Agent`` streams through ``iter_stream`` when it has it,
    else answers once through ``astart``/``start``. Plain callables pass through.
    """
    if not is_praisonai_agent(agent):
        if inspect.isclass(agent) or not callable(agent):
            raise TypeError(
                f"an agent must be a function, coroutine function, (async) generator or "
                f"praisonaiagents.Agent; got {type(agent).__name__}"
            )
        return agent  # type: ignore[no-any-return]
    if hasattr(agent, "iter_stream"):

        def stream(text: str) -> Iterator[Any]:
            yield from agent.iter_stream(text)

        return stream
    if hasattr(agent, "astart"):

        async def answer_async(text: str) -> Any:
            return await agent.astart(text)

        return answer_async

    def answer(text: str) -> Any:
        return agent.start(text)

    return answer
