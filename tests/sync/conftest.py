"""Blocking-face fixtures: a connected sync client over the in-memory transport, and
connected sync clients of a real gateway (``connect``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import WAIT

from praison_push.client import Backoff
from praison_push.server import GatewayThread
from praison_push.sync import PushClient
from praison_push.testing import MemoryTransportFactory, ScriptedGateway

from .helpers import Connect


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


@pytest.fixture
def connect(gateway: GatewayThread) -> Iterator[Connect]:
    """Connected blocking clients of ``gateway``; all disconnected after the test.

    ``connect(cls, **options)`` makes a ``cls`` (a ``PushClient`` subclass) instead.
    """
    clients: list[PushClient] = []

    def make(cls: type[PushClient] = PushClient, **options: Any) -> PushClient:
        options.setdefault("request_timeout", WAIT)
        options.setdefault("backoff", Backoff(initial=0.02, maximum=0.2))
        client = cls(gateway.url, **options)
        clients.append(client)
        client.connect()
        return client

    yield make
    for client in clients:
        client.disconnect()
