"""The backend contract suite's factory: one param per implementation.

Every test in ``test_contract_*.py`` runs against each kit below. To add an
implementation (Redis), add a param and build its kit in :func:`backend`;
a kit that cannot follow an injected clock sets ``controls_clock=False`` and the
expiry tests skip for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conftest import timeout

from praison_push.backends import Broker, HistoryStore, MemoryBroker, MemoryHistoryStore
from praison_push.config import HistoryConfig


class FakeClock:
    """A settable wall clock: ``clock()`` reads it, ``advance()`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class BackendKit:
    """Builds fresh stores of one implementation and cleans them up."""

    name: str
    clock: FakeClock
    controls_clock: bool
    _history: Callable[[HistoryConfig, FakeClock], HistoryStore]
    _broker: Callable[[], Broker]
    _opened: list[HistoryStore | Broker] = field(default_factory=list)

    def history(self, **config: Any) -> HistoryStore:
        """A new, empty history store with ``HistoryConfig(**config)``."""
        store = self._history(HistoryConfig(**config), self.clock)
        self._opened.append(store)
        return store

    def broker(self) -> Broker:
        broker = self._broker()
        self._opened.append(broker)
        return broker

    async def close(self) -> None:
        for item in reversed(self._opened):
            await item.close()


def _memory_kit() -> BackendKit:
    return BackendKit(
        name="memory",
        clock=FakeClock(),
        controls_clock=True,
        _history=lambda config, clock: MemoryHistoryStore(config, clock=clock),
        _broker=MemoryBroker,
    )


@pytest.fixture(params=["memory"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[BackendKit]:
    """A kit for each backend implementation under contract."""
    kits = {"memory": _memory_kit}
    kit = kits[request.param]()
    try:
        yield kit
    finally:
        await kit.close()


async def wait_until(predicate: Callable[[], bool], seconds: float = 2.0) -> None:
    """Poll ``predicate`` until true, failing after ``seconds`` (scaled)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(poll(), timeout(seconds))
