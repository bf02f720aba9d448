"""Client fixtures: a connected client over the in-memory transport, scripted replies,
and connected clients of a real gateway (``connect``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import WAIT

from praison_push.client import AsyncPushClient, Backoff
from praison_push.server import GatewayThread
from praison_push.testing import MemoryTransportFactory, ScriptedGateway

from .helpers import Connect, make_client


@pytest.fixture
def scripted() -> ScriptedGateway:
    return ScriptedGateway()


@pytest.fixture
def factory(scripted: ScriptedGateway) -> MemoryTransportFactory:
    return MemoryTransportFactory(responder=scripted)


@pytest.fixture
async def client(factory: MemoryTransportFactory) -> AsyncIterator[AsyncPushClient]:
    client = make_client(factory, url="ws://gateway.test/ws?token=s3cret")
    await client.connect()
    yield client
    await client.disconnect()


@pytest.fixture
def e2e_backoff() -> Backoff:
    """The reconnect schedule of ``connect``'s clients (a test module may override it)."""
    return Backoff(initial=0.02, maximum=0.2)


@pytest.fixture
async def connect(gateway: GatewayThread, e2e_backoff: Backoff) -> AsyncIterator[Connect]:
    """Connected clients of ``gateway``; all disconnected after the test."""
    clients: list[AsyncPushClient] = []

    async def make(**options: Any) -> AsyncPushClient:
        options.setdefault("request_timeout", WAIT)
        options.setdefault("backoff", e2e_backoff)
        client = AsyncPushClient(gateway.url, **options)
        clients.append(client)
        await client.connect()
        return client

    yield make
    await asyncio.gather(*(client.disconnect() for client in clients))
