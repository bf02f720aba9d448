"""WebSocketTransport against a scripted ``websockets`` server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from support import WAIT
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from praison_push.client import (
    AuthenticationFailed,
    ConnectionClosedError,
    FrameError,
    NotConnectedError,
    TransportError,
    WebSocketTransport,
)


class Scripted:
    """What the test server saw, and its behaviour per path."""

    def __init__(self) -> None:
        self.headers: list[Headers] = []
        self.paths: list[str] = []
        self.received: list[Any] = []

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.headers.append(request.headers)
        self.paths.append(request.path)
        if request.path.startswith("/forbidden"):
            return connection.respond(HTTPStatus.FORBIDDEN, "no\n")
        if request.path.startswith("/broken"):
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "oops\n")
        return None

    async def handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        if path.startswith("/close4003"):
            await connection.close(4003, "auth required")
            return
        if path.startswith("/abort"):
            connection.transport.abort()
            return
        if path.startswith("/garbage"):
            await connection.send("not json")
            await connection.send(b'{"type": "binary"}')
        await connection.send(json.dumps({"type": "connected"}))
        async for raw in connection:
            self.received.append(json.loads(raw))
            if self.received[-1].get("type") == "bye":
                await connection.close(1000, "bye")


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, Scripted]]:
    scripted = Scripted()
    async with serve(
        scripted.handler, "127.0.0.1", 0, process_request=scripted.process_request
    ) as srv:
        yield srv, scripted


def url_of(server: Server, path: str = "/ws") -> str:
    port = next(iter(server.sockets)).getsockname()[1]
    return f"ws://127.0.0.1:{port}{path}"


async def test_token_goes_in_a_header_and_client_id_in_the_query(
    server: tuple[Server, Scripted],
) -> None:
    srv, scripted = server
    transport = WebSocketTransport(url_of(srv, "/ws?protocol=praison"), "s3cret", client_id="c1")
    assert not transport.is_connected
    assert transport.close_code is None
    await transport.connect()
    await transport.connect()  # no-op when open
    try:
        assert transport.is_connected
        assert scripted.headers[0]["Authorization"] == "Bearer s3cret"
        assert scripted.paths == ["/ws?protocol=praison&client_id=c1"]
        assert transport.url.endswith("client_id=c1")
        assert await asyncio.wait_for(transport.receive(), WAIT) == {"type": "connected"}
        await transport.send({"type": "ping", "text": "héllo"})
        await transport.send({"type": "bye"})
        with pytest.raises(ConnectionClosedError) as caught:
            await asyncio.wait_for(transport.receive(), WAIT)
        assert (caught.value.code, caught.value.reason) == (1000, "bye")
        assert scripted.received[0] == {"type": "ping", "text": "héllo"}
        assert transport.close_code == 1000
        assert not transport.is_connected
        with pytest.raises(ConnectionClosedError):
            await transport.send({"type": "late"})
    finally:
        await transport.disconnect()
        await transport.disconnect()


async def test_no_authorization_header_without_a_token(server: tuple[Server, Scripted]) -> None:
    srv, scripted = server
    transport = WebSocketTransport(url_of(srv))
    await transport.connect()
    await transport.disconnect()
    assert "Authorization" not in scripted.headers[0]
    assert scripted.paths == ["/ws"]


async def test_garbage_frames_raise_frame_error_and_the_connection_stays(
    server: tuple[Server, Scripted],
) -> None:
    srv, _ = server
    transport = WebSocketTransport(url_of(srv, "/garbage"))
    await transport.connect()
    try:
        with pytest.raises(FrameError):
            await asyncio.wait_for(transport.receive(), WAIT)
        assert await asyncio.wait_for(transport.receive(), WAIT) == {"type": "binary"}
        assert await asyncio.wait_for(transport.receive(), WAIT) == {"type": "connected"}
    finally:
        await transport.disconnect()


async def test_server_close_code_is_reported(server: tuple[Server, Scripted]) -> None:
    srv, _ = server
    transport = WebSocketTransport(url_of(srv, "/close4003"))
    await transport.connect()
    with pytest.raises(ConnectionClosedError) as caught:
        await asyncio.wait_for(transport.receive(), WAIT)
    assert (caught.value.code, caught.value.reason) == (4003, "auth required")
    await transport.disconnect()


async def test_a_drop_without_close_frame_has_no_code(server: tuple[Server, Scripted]) -> None:
    srv, _ = server
    transport = WebSocketTransport(url_of(srv, "/abort"))
    await transport.connect()
    with pytest.raises(ConnectionClosedError) as caught:
        await asyncio.wait_for(transport.receive(), WAIT)
    assert caught.value.code is None
    await transport.disconnect()


async def test_http_403_names_the_path_not_the_token(server: tuple[Server, Scripted]) -> None:
    # A gateway refuses a token by closing the accepted WebSocket (4001/4003), never
    # with HTTP 403: a 403 is a wrong path (or a proxy), and the message says so.
    srv, _ = server
    transport = WebSocketTransport(
        url_of(srv, "/forbidden?token=s3cret"), "s3cret", client_id="generated-id"
    )
    with pytest.raises(TransportError, match="HTTP 403, no WebSocket endpoint") as caught:
        await transport.connect()
    assert not isinstance(caught.value, AuthenticationFailed)
    assert "s3cret" not in str(caught.value) and "generated-id" not in str(caught.value)
    assert "a praison_push gateway serves /ws" in str(caught.value)


async def test_a_port_that_is_not_a_number_says_so() -> None:
    with pytest.raises(TransportError, match="the port is not a number") as caught:
        await WebSocketTransport("ws://127.0.0.1:abc/ws?token=s3cret", client_id="x").connect()
    assert "s3cret" not in str(caught.value) and "client_id" not in str(caught.value)


async def test_other_http_errors_are_transport_errors(server: tuple[Server, Scripted]) -> None:
    srv, _ = server
    with pytest.raises(TransportError, match="500"):
        await WebSocketTransport(url_of(srv, "/broken")).connect()


async def test_unreachable_gateway_is_a_transport_error_naming_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = WebSocketTransport(f"ws://127.0.0.1:{port}/ws?token=s3cret", "s3cret")
    with pytest.raises(TransportError) as caught:
        await transport.connect()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret" not in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, OSError)


async def test_invalid_uri_is_a_transport_error_that_leaks_no_token() -> None:
    with pytest.raises(TransportError, match="not a ws"):
        await WebSocketTransport("http://127.0.0.1/ws").connect()
    with pytest.raises(TransportError) as caught:
        await WebSocketTransport("http://127.0.0.1/ws?token=s3cret").connect()
    assert "s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_handshake_timeout_is_a_transport_error() -> None:
    # A socket that listens but never accepts: TCP connects, the handshake never answers.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        transport = WebSocketTransport(f"ws://127.0.0.1:{port}/ws", open_timeout=0.05)
        with pytest.raises(TransportError, match="Timeout"):
            await transport.connect()


async def test_use_before_connect_raises_not_connected() -> None:
    transport = WebSocketTransport("ws://127.0.0.1:1/ws")
    with pytest.raises(NotConnectedError):
        await transport.send({"type": "ping"})
    with pytest.raises(NotConnectedError):
        await transport.receive()
    await transport.disconnect()  # harmless


def test_repr_hides_secrets() -> None:
    transport = WebSocketTransport("ws://u:pw@h/ws?token=s3cret", "s3cret", client_id="c1")
    text = repr(transport)
    assert "s3cret" not in text
    assert "pw" not in text
    assert "closed" in text
