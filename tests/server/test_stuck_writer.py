"""A client that stops reading is dropped, not kept open forever (PROTOCOL.md §3, slow consumers).

Its connection is closed 1013 when its send queue overflows, but the close frame
cannot be written to a socket nobody reads: the hub's upkeep aborts the
connection after ``Connection.ABORT_GRACE`` (capped by ``idle_timeout``), so the
connection leaves the hub, its limiter slot is freed and shutdown stays graceful.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any
from urllib.parse import urlsplit

import pytest
from support import ask, raw_client, timeout, wait_until, works

from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import GatewayConfig, HistoryConfig, LimitsConfig
from praison_push.hub import Connection, Hub
from praison_push.protocol import CloseCode
from praison_push.server import GatewayThread, websocket
from praison_push.server.websocket import WebSocketEndpoint

from .helpers import LogCapture, Serve


def masked_text_frame(text: str) -> bytes:
    """One client-to-server text frame (clients must mask, RFC 6455 §5.3)."""
    payload = text.encode()
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def non_reading_subscriber(url: str, client_id: str, channel: str) -> socket.socket:
    """Open a WebSocket with a tiny receive buffer, subscribe, and never read again."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(timeout(5))
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {parts.path}?client_id={client_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while not response.endswith(b"\r\n\r\n"):  # byte by byte: leave the frames unread
        chunk = sock.recv(1)
        assert chunk, response
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    sock.sendall(masked_text_frame(json.dumps({"type": "channel.subscribe", "channel": channel})))
    return sock


def connection_of(gateway: GatewayThread, client_id: str) -> Connection | None:
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    for connection in list(hub.connections.values()):
        if connection.client_id == client_id:
            return connection
    return None


async def test_a_client_that_stops_reading_is_dropped(serve: Serve, logs: LogCapture) -> None:
    # Short timers (every one a real setting): the hub's upkeep ticks every quarter
    # idle_timeout and aborts a close still stuck after min(ABORT_GRACE, idle_timeout).
    idle_timeout = timeout(0.5)
    gateway = serve(
        limits=LimitsConfig(
            idle_timeout=idle_timeout, send_queue_max_frames=50, send_queue_max_bytes=200_000
        ),
        history=HistoryConfig(size=5),
    )
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    stuck_socket = non_reading_subscriber(gateway.url, "stuck", "flood")
    try:
        await wait_until(
            lambda: (
                (s := connection_of(gateway, "stuck")) is not None and "flood" in s.subscriptions
            ),
            3,
        )
        stuck = connection_of(gateway, "stuck")
        assert stuck is not None
        async with raw_client(gateway.url) as publisher, raw_client(gateway.url) as reader:

            async def keep_alive() -> None:
                # Liveness (a pong has no reply) at a period well inside idle_timeout, not
                # a wait: the healthy clients' throughout, the stuck one's until it is closed.
                pong = json.dumps({"type": "pong"})
                while True:
                    if stuck.close_code is None:
                        stuck_socket.sendall(masked_text_frame(pong))
                    for ws in (publisher, reader):
                        await ws.send(pong)
                    await asyncio.sleep(idle_timeout / 5)

            pinger = asyncio.ensure_future(keep_alive())
            try:
                await reader.send(json.dumps({"type": "channel.subscribe", "channel": "flood"}))
                data = "x" * 50_000
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout(10)
                sent = 0
                while stuck.close_code is None:
                    assert loop.time() < deadline, f"never overflowed after {sent} frames"
                    # Each publish waits for its receipt: the flood goes at the gateway's pace.
                    receipt = await ask(publisher, "channel.publish", channel="flood", data=data)
                    assert receipt["type"] == "channel.published", receipt
                    sent += 1
                assert stuck.close_code == CloseCode.SLOW_CONSUMER
                await wait_until(lambda: connection_of(gateway, "stuck") is None, 8)
            finally:
                pinger.cancel()
            assert stuck not in hub.connections.values()
            assert stuck.close_code == CloseCode.SLOW_CONSUMER
            # The healthy subscriber got the flood, and the gateway still serves.
            received = 0
            while received < 3:
                frame = json.loads(await asyncio.wait_for(reader.recv(), timeout(3)))
                received += frame.get("type") == "channel_message"
            async with raw_client(gateway.url) as fresh:
                await works(fresh)
        # Every connection is gone and its limiter slot released.
        await wait_until(lambda: not hub.connections and hub.node.limiter.total == 0, 3)
        # Stop while the non-reading peer is still connected: no forced shutdown.
        await asyncio.to_thread(gateway.stop)
    finally:
        stuck_socket.close()
    assert "graceful shutdown exceeded" not in logs.text()
    assert "aborting" in logs.text()


async def test_without_a_reachable_transport_abort_ends_the_read_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server whose send() is a plain function: no transport to abort, so the
    # endpoint tries a bounded close and then ends its own read loop.
    monkeypatch.setattr(websocket, "ABORT_CLOSE_TIMEOUT", 0.05)
    config = GatewayConfig()
    hub = Hub(config, history=MemoryHistoryStore(config.history), broker=MemoryBroker())
    never = asyncio.Event()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] != "websocket.accept":
            await never.wait()  # a peer that stopped reading

    scope = {"type": "websocket", "path": "/ws", "query_string": b"", "headers": []}
    endpoint = asyncio.ensure_future(WebSocketEndpoint(hub)(scope, receive, send))
    try:
        await wait_until(lambda: sent == ["websocket.accept", "websocket.send"], 3)
        (connection,) = hub.connections.values()
        connection.close(CloseCode.SLOW_CONSUMER, "send queue full")
        connection.abort()
        await asyncio.wait_for(endpoint, timeout(3))
        assert not hub.connections
        assert sent[-1] == "websocket.close"  # tried, then gave up
    finally:
        endpoint.cancel()
        await hub.close()
