"""Shared fixtures: real gateways on 127.0.0.1 port 0, and the test time unit."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from praison_push.config import GatewayConfig
from praison_push.server import GatewayThread

#: One time unit for every bounded wait in the tests; CI may scale it up.
UNIT = float(os.environ.get("PRAISON_PUSH_TEST_TIMEOUT_SCALE", "1"))


def timeout(seconds: float) -> float:
    """A wait bound of ``seconds`` scaled for slow machines."""
    return seconds * UNIT


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., GatewayThread]]:
    """Start gateways with custom config; all are stopped after the test."""
    started: list[GatewayThread] = []

    def start(config: GatewayConfig | None = None, **fields: Any) -> GatewayThread:
        base = config or GatewayConfig(**fields)
        thread = GatewayThread(base.model_copy(update={"port": 0})).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop()


@pytest.fixture
def gateway(gateway_factory: Callable[..., GatewayThread]) -> GatewayThread:
    """A real uvicorn gateway with default config on 127.0.0.1 and a free port."""
    return gateway_factory()
