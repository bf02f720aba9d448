"""Blocking-face fixtures: a connected sync client over the in-memory transport."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from praison_push.client import Backoff
from praison_push.sync import PushClient
from praison_push.testing import MemoryTransportFactory, ScriptedGateway

from .helpers import WAIT


@pytest.fixture
def factory() -> MemoryTransportFactory:
    return MemoryTransportFactory(responder=ScriptedGateway())


@pytest.fixture
def sync_client(factory: MemoryTransportFactory) -> Iterator[PushClient]:
    client = PushClient(
        "ws://gateway.test/ws",
        transport_factory=factory,
        request_timeout=WAIT,
        backoff=Backoff(initial=0.001, maximum=0.005, jitter=0.0),
    )
    client.connect()
    yield client
    client.disconnect()
