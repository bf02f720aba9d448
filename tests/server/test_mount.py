"""Mounting the gateway inside another Starlette app, and restarting on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from support import ask, closed_with, expect, http_client, raw_client, timeout, works

from praison_push.config import GatewayConfig, LimitsConfig
from praison_push.protocol import CloseCode, should_reconnect
from praison_push.server import Gateway, bind_socket
from praison_push.server.uvicorn_ws import PushWebSocketProtocol
from praison_push.server.wire import WireWriter

from .helpers import LogCapture, Serve


@contextlib.contextmanager
def serve_app(app: Starlette, logs: LogCapture, max_size: int, **options: Any) -> Iterator[int]:
    """Serve ``app`` with a plain uvicorn config (``options`` added) on a thread; yield its port."""
    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(
        app, ws_max_size=max_size, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    logs.attach()
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout(10))
        sock.close()


#: The ``mounted`` fixture: the port, the gateway, and which ``HOSTS`` entry serves it.
Mounted = tuple[int, Gateway, str]

#: uvicorn ``ws`` choices for the host app: stock (no ``praison.prebuilt_send``: the
#: endpoint falls back to ASGI ``send``); the gateway's protocol (the pre-framed path);
#: the gateway's protocol with compression negotiated (frames built once cannot be
#: compressed per connection, so no extension is offered: ASGI ``send`` again).
HOSTS: dict[str, dict[str, Any]] = {
    "stock uvicorn": {},
    "PushWebSocketProtocol": {"ws": PushWebSocketProtocol, "ws_per_message_deflate": False},
    "PushWebSocketProtocol, deflate": {"ws": PushWebSocketProtocol},
}


@pytest.fixture
def idle_timeout() -> float:
    """The mounted gateway's ``idle_timeout``: ample for a test's exchanges."""
    return 0.5


@pytest.fixture(params=list(HOSTS))
def mounted(
    request: pytest.FixtureRequest, logs: LogCapture, idle_timeout: float
) -> Iterator[Mounted]:
    gateway = Gateway(GatewayConfig(limits=LimitsConfig(idle_timeout=idle_timeout)))

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("the host app")

    app = Starlette(routes=[Route("/", home), Mount("/push", app=gateway.asgi_app())])
    options = HOSTS[request.param]
    with serve_app(app, logs, gateway.config.limits.max_message_size, **options) as port:
        yield port, gateway, request.param


async def test_mounted_under_a_prefix(mounted: Mounted) -> None:
    port, gateway, host = mounted
    url = f"ws://127.0.0.1:{port}/push/ws"
    async with raw_client(url + "?client_id=a") as alice, raw_client(url + "?client_id=b") as bob:
        await ask(bob, "channel.subscribe", channel="c")
        (connection,) = [c for c in gateway.hub.connections.values() if c.client_id == "b"]
        if host == "PushWebSocketProtocol":
            assert isinstance(connection.sink, WireWriter)  # the pre-framed path
        else:
            assert connection.sink is None  # no extension: the ASGI send path
        assert (await ask(alice, "channel.publish", channel="c", data="hi"))["delivered"] == 1
        await expect(bob, "channel_message", data="hi", source="a")
    async with http_client(timeout=timeout(5)) as http:
        health = await http.get(f"http://127.0.0.1:{port}/push/health")
        assert health.json()["status"] == "ok"
        assert (await http.get(f"http://127.0.0.1:{port}/")).text == "the host app"
        assert (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 404
    assert len(gateway.hub.channels) == 0  # everyone left "c", so it is forgotten


@pytest.mark.parametrize("idle_timeout", [0.2])  # a quiet client is closed sooner
async def test_mounted_gateway_runs_its_upkeep(mounted: Mounted) -> None:
    # Starlette does not run a mounted app's lifespan: upkeep must start anyway.
    port, _, _ = mounted
    async with raw_client(f"ws://127.0.0.1:{port}/push/ws") as quiet:
        assert await closed_with(quiet, seconds=5) == CloseCode.IDLE_TIMEOUT


async def test_restart_on_the_same_port(serve: Serve, logs: LogCapture) -> None:
    gateway = serve()
    port = gateway.port
    old_hub = gateway.gateway.hub  # type: ignore[union-attr]
    async with raw_client(gateway.url + "?client_id=sub") as sub, raw_client(gateway.url) as pub:
        subscribed = await ask(sub, "channel.subscribe", channel="c")
        await ask(pub, "channel.publish", channel="c", data=1)
        message = await expect(sub, "channel_message", offset=1)
        old_epoch = message["epoch"]
        assert subscribed["epoch"] == old_epoch
        await asyncio.to_thread(gateway.stop)
        code = await closed_with(sub)
        assert code == CloseCode.GOING_AWAY  # the hub closes first (GatewayThread.stop)
        assert should_reconnect(code)
    gateway.start()
    logs.attach()
    assert gateway.port == port
    assert gateway.gateway is not None and gateway.gateway.hub is not old_hub
    async with raw_client(gateway.url + "?client_id=sub") as sub:
        await works(sub)
        reply = await ask(
            sub, "channel.subscribe", channel="c", since={"offset": 1, "epoch": old_epoch}
        )
        assert reply["epoch"] != old_epoch
        assert (reply["recovered"], reply["offset"]) == (False, 0)
    async with http_client(timeout=timeout(5)) as http:
        assert (await http.get(gateway.http_url + "/health")).json()["connections"] >= 0
