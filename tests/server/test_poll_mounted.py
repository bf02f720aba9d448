"""The HTTP transports of a gateway mounted under a prefix of another app."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from support import Recorder, timeout

from praison_push.client import AsyncPushClient
from praison_push.config import GatewayConfig, PushConfig
from praison_push.server import Gateway, bind_socket

from .helpers import LogCapture


@pytest.fixture
def mounted(logs: LogCapture) -> Iterator[tuple[int, Gateway]]:
    gateway = Gateway(GatewayConfig(push=PushConfig(enabled=True)))
    app = Starlette(routes=[Mount("/push", app=gateway.asgi_app())])
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True
    )
    thread.start()
    logs.attach()
    try:
        yield sock.getsockname()[1], gateway
    finally:
        asyncio.run_coroutine_threadsafe(gateway.hub.close(), loop).result(timeout(10))
        server.should_exit = True
        thread.join(timeout(10))
        sock.close()
        loop.close()


@pytest.mark.parametrize("kind", ["polling", "sse"])
async def test_http_transports_under_a_prefix(mounted: tuple[int, Gateway], kind: str) -> None:
    port, _ = mounted
    url = f"ws://127.0.0.1:{port}/push/ws"
    reader = AsyncPushClient(url, transports=[kind])
    writer = AsyncPushClient(url, transports=[kind])
    got = Recorder()
    try:
        await reader.connect()
        await writer.connect()
        assert reader.transport == kind
        await reader.subscribe("prefixed", got)
        await writer.publish("prefixed", {"via": kind})
        (message,) = await got.wait()
        assert message.data == {"via": kind}
    finally:
        await reader.disconnect()
        await writer.disconnect()
