"""Gateway construction and the threaded runner: ports, restarts, calls onto the loop."""

from __future__ import annotations

import socket
import sys

import pytest
from support import closed_with, dial, expect, http_client, raw_client, timeout, works

from praison_push.config import GatewayConfig
from praison_push.protocol import CloseCode
from praison_push.server import Gateway, GatewayThread, bind_socket
from praison_push.server.runner import build_server, ws_url
from praison_push.server.uvicorn_ws import PushWebSocketProtocol

from .helpers import LogCapture


def test_gateway_defaults_and_repr() -> None:
    gateway = Gateway()
    assert gateway.backend == "memory"
    assert repr(gateway) == "<Gateway 127.0.0.1:8765 backend=memory>"
    assert gateway.asgi_app() is gateway.asgi_app()


def test_bind_socket_and_ws_url() -> None:
    sock = bind_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        assert ws_url(sock) == f"ws://127.0.0.1:{port}/ws"
        assert ws_url(sock, "/push/ws").endswith("/push/ws")
        with pytest.raises(OSError):
            bind_socket("127.0.0.1", port)  # taken
    finally:
        sock.close()


def test_bind_socket_ipv6() -> None:
    """``::1`` gives a bracketed URL where the host has IPv6 loopback, a clear OSError where not."""
    try:
        sock = bind_socket("::1", 0)
    except OSError as exc:
        assert not socket.has_ipv6 or exc.errno is not None
        return
    with sock:
        assert sock.family == socket.AF_INET6
        assert ws_url(sock).startswith("ws://[::1]:")


def test_build_server_applies_the_frame_limit() -> None:
    gateway = Gateway()
    server = build_server(gateway, log_level="error")
    assert server.config.ws_max_size == gateway.config.limits.max_message_size
    assert server.config.access_log is False


def test_build_server_serves_websockets_with_the_pre_framed_protocol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = Gateway()
    assert build_server(gateway).config.ws is PushWebSocketProtocol
    assert build_server(gateway, ws="websockets-sansio").config.ws == "websockets-sansio"
    # A uvicorn without the websockets-sansio protocol: its own choice, ASGI send.
    monkeypatch.setitem(sys.modules, "praison_push.server.uvicorn_ws", None)
    assert build_server(gateway).config.ws == "auto"


async def test_thread_lifecycle(logs: LogCapture) -> None:
    thread = GatewayThread(GatewayConfig(port=0))
    assert not thread.running
    with pytest.raises(RuntimeError, match="not running"):
        thread.call(lambda: None)
    thread.stop()  # stopping a thread that never started is harmless
    with thread:
        logs.attach()
        assert thread.running
        assert thread.start() is thread  # idempotent while running
        assert thread.port != 0
        assert thread.url == f"ws://127.0.0.1:{thread.port}/ws"
        assert thread.http_url == f"http://127.0.0.1:{thread.port}"
        async with raw_client(thread.url) as ws:
            await works(ws)
            assert thread.gateway is not None
            hub = thread.gateway.hub
            assert thread.call(lambda: len(hub.connections), timeout=timeout(5)) == 1
        async with http_client(timeout=timeout(5)) as http:
            assert (await http.get(thread.http_url + "/health")).json()["status"] == "ok"
    assert not thread.running


async def test_stop_without_waiting_closes_at_once_and_join_finishes() -> None:
    thread = GatewayThread(GatewayConfig(port=0)).start()
    port = thread.port
    async with dial(thread.url) as ws:
        await expect(ws, "connected")
        thread.stop(wait=False)
        # The hub closed every connection before stop() returned.
        assert await closed_with(ws) == CloseCode.GOING_AWAY
    assert not thread.running
    thread.join(timeout(5))
    # The thread is gone and the port free: a restart binds it again.
    thread.start()
    try:
        assert thread.port == port
        async with raw_client(thread.url) as ws:
            await works(ws)
    finally:
        thread.stop()
