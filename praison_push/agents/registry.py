"""The agents a gateway can run, by name."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from .praisonai import adapt
from .runner import AgentSpec

__all__ = ["AgentRegistry"]

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("praison_push.agents")


class AgentRegistry:
    """Name → agent. Names follow the channel-name rules minus the ``$`` prefix."""

    def __init__(self) -> None:
        self._agents: dict[str, AgentSpec] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def __len__(self) -> int:
        return len(self._agents)

    def names(self) -> list[str]:
        return sorted(self._agents)

    def get(self, name: str) -> AgentSpec | None:
        return self._agents.get(name)

    def register(self, name: str, agent: Any, *, description: str = "") -> AgentSpec:
        """Register ``agent`` (any callable, or a ``praisonaiagents.Agent``) as ``name``.

        Registering a name again replaces the earlier agent.
        """
        if not name or len(name) > 200 or name.startswith("$"):
            raise ValueError(
                f"agent name must be 1-200 characters, not starting with '$': {name!r}"
            )
        spec = AgentSpec.of(name, adapt(agent), description)
        self._agents[name] = spec
        return spec

    def agent(self, name: str, *, description: str = "") -> Callable[[F], F]:
        """Decorator form of :meth:`register`."""

        def decorate(fn: F) -> F:
            self.register(name, fn, description=description)
            return fn

        return decorate

    def unregister(self, name: str) -> None:
        self._agents.pop(name, None)

    async def aclose(self) -> None:
        """Let agents that hold connections close them (``ChatAgent.aclose``): the gateway
        calls this when it stops. An agent's failure to close is logged, not raised."""
        for spec in list(self._agents.values()):
            close = getattr(spec.fn, "aclose", None)
            if not callable(close):
                continue
            try:
                outcome = close()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.warning("agent %s failed to close", spec.name, exc_info=True)
