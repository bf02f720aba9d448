"""Client fixtures: a connected client over the in-memory transport, scripted replies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from praison_push.client import AsyncPushClient
from praison_push.testing import MemoryTransportFactory, ScriptedGateway

from .helpers import FAST_BACKOFF, WAIT


@pytest.fixture
def scripted() -> ScriptedGateway:
    return ScriptedGateway()


@pytest.fixture
def factory(scripted: ScriptedGateway) -> MemoryTransportFactory:
    return MemoryTransportFactory(responder=scripted)


@pytest.fixture
async def client(factory: MemoryTransportFactory) -> AsyncIterator[AsyncPushClient]:
    client = AsyncPushClient(
        "ws://gateway.test/ws?token=s3cret",
        transport_factory=factory,
        request_timeout=WAIT,
        backoff=FAST_BACKOFF,
    )
    await client.connect()
    yield client
    await client.disconnect()
