"""The /ws ASGI adapter driven directly with ASGI messages: the edges a socket rarely shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support import timeout

from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig
from praison_push.hub import Hub
from praison_push.protocol import CloseCode
from praison_push.server.asgi import bearer_token, redact_token
from praison_push.server.websocket import WebSocketEndpoint

Message = dict[str, Any]


class FakeSocket:
    """Both halves of an ASGI WebSocket connection, held in memory."""

    def __init__(self, fail_sends: bool = False) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.failed_sends = 0
        self._changed = asyncio.Event()
        self._fail_sends = fail_sends

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        if self._fail_sends and message["type"] == "websocket.send":
            self.failed_sends += 1
            self._changed.set()
            raise OSError("peer went away")
        self.sent.append(message)
        self._changed.set()

    def push(self, message: Message) -> None:
        self.inbox.put_nowait(message)

    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(m["text"]) for m in self.sent if m["type"] == "websocket.send"]

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async def poll() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(poll(), timeout(3))


def scope(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": "/ws",
        "query_string": query,
        "headers": headers or [],
        "client": ("127.0.0.1", 50000),
    }


@pytest.fixture
async def make_endpoint() -> Any:
    hubs: list[Hub] = []

    def make(config: GatewayConfig | None = None) -> WebSocketEndpoint:
        config = config or GatewayConfig()
        hub = Hub(config, history=MemoryHistoryStore(config.history), broker=MemoryBroker())
        hubs.append(hub)
        return WebSocketEndpoint(hub)

    yield make
    for hub in hubs:
        await hub.close()


def run(endpoint: WebSocketEndpoint, sock: FakeSocket, sc: dict[str, Any]) -> Awaitable[None]:
    return asyncio.ensure_future(endpoint(sc, sock.receive, sock.send))


async def test_a_first_message_that_is_not_connect_is_ignored(make_endpoint: Any) -> None:
    sock = FakeSocket()
    sock.push({"type": "websocket.disconnect", "code": 1006})
    await asyncio.wait_for(run(make_endpoint(), sock, scope()), timeout(3))
    assert sock.sent == []


async def test_a_binary_auth_frame_is_read(make_endpoint: Any) -> None:
    endpoint = make_endpoint(GatewayConfig(auth=AuthConfig(tokens=["t"])))
    sock = FakeSocket()
    sock.push({"type": "websocket.connect"})
    sock.push({"type": "websocket.receive", "bytes": b'{"type":"auth","token":"t"}'})
    task = run(endpoint, sock, scope(b"client_id=bin"))
    await sock.wait_for(lambda: len(sock.frames()) == 1)
    assert sock.sent[0] == {"type": "websocket.accept"}
    assert sock.frames()[0]["client_id"] == "bin"
    sock.push({"type": "websocket.somethingelse"})  # unknown ASGI events are ignored
    sock.push({"type": "websocket.receive", "text": '{"type":"ping"}'})
    await sock.wait_for(lambda: len(sock.frames()) == 2)
    assert sock.frames()[1] == {"type": "pong"}
    sock.push({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, timeout(3))
    assert endpoint.hub.connections == {}


async def test_a_disconnect_while_waiting_for_auth_refuses(make_endpoint: Any) -> None:
    endpoint = make_endpoint(GatewayConfig(auth=AuthConfig(tokens=["t"])))
    sock = FakeSocket()
    sock.push({"type": "websocket.connect"})
    sock.push({"type": "websocket.disconnect", "code": 1001})
    await asyncio.wait_for(run(endpoint, sock, scope()), timeout(3))
    assert sock.frames() == [
        {"type": "hello_error", "code": "auth_required", "message": "a valid token is required"}
    ]
    assert sock.sent[-1] == {"type": "websocket.close", "code": CloseCode.AUTH_REQUIRED}
    assert endpoint.hub.connections == {}


async def test_a_failing_send_ends_the_writer_quietly(
    make_endpoint: Any, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = make_endpoint()
    sock = FakeSocket(fail_sends=True)
    sock.push({"type": "websocket.connect"})
    with caplog.at_level("DEBUG", logger="praison_push.server"):
        task = run(endpoint, sock, scope())
        await sock.wait_for(lambda: bool(sock.sent))  # the accept went through
        await sock.wait_for(lambda: sock.failed_sends == 1)  # the greeting did not
        sock.push({"type": "websocket.disconnect", "code": 1006})
        await asyncio.wait_for(task, timeout(3))
    assert endpoint.hub.connections == {}
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failures and all(r.exc_info is None and r.levelname == "DEBUG" for r in failures)


async def test_limit_refusal_is_an_error_frame_then_4008(make_endpoint: Any) -> None:
    endpoint = make_endpoint(
        GatewayConfig(limits=LimitsConfig(max_connections_per_ip=1, loopback_exempt=False))
    )
    first, second = FakeSocket(), FakeSocket()
    for sock in (first, second):
        sock.push({"type": "websocket.connect"})
    task = run(endpoint, first, scope())
    await first.wait_for(lambda: len(first.frames()) == 1)
    await asyncio.wait_for(run(endpoint, second, scope()), timeout(3))
    assert second.frames() == [
        {
            "type": "error",
            "code": "limit_exceeded",
            "message": "max_connections_per_ip=1 reached",
            "details": {"limit": "max_connections_per_ip", "max": 1},
        }
    ]
    assert second.sent[-1] == {"type": "websocket.close", "code": CloseCode.CONNECTION_LIMIT}
    first.push({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(task, timeout(3))


async def test_a_server_side_close_is_sent_after_the_backlog(make_endpoint: Any) -> None:
    endpoint = make_endpoint()
    sock = FakeSocket()
    sock.push({"type": "websocket.connect"})
    task = run(endpoint, sock, scope())
    await sock.wait_for(lambda: len(sock.frames()) == 1)
    (session,) = endpoint.hub.connections.values()
    session.send({"type": "last"})
    session.close(CloseCode.IDLE_TIMEOUT, "idle timeout")
    await sock.wait_for(lambda: sock.sent[-1]["type"] == "websocket.close")
    assert sock.frames()[-1] == {"type": "last"}
    assert sock.sent[-1] == {"type": "websocket.close", "code": 4002, "reason": "idle timeout"}
    sock.push({"type": "websocket.disconnect", "code": 4002})
    await asyncio.wait_for(task, timeout(3))


# --- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([(b"authorization", b"Bearer abc")], "abc"),
        ([(b"authorization", b"bearer  abc ")], "abc"),
        ([(b"authorization", b"Basic abc")], None),
        ([(b"authorization", b"Bearer")], None),
        ([(b"x-other", b"Bearer abc")], None),
        ([], None),
    ],
)
def test_bearer_token(headers: list[tuple[bytes, bytes]], token: str | None) -> None:
    assert bearer_token(scope(headers=headers)) == token


@pytest.mark.parametrize(
    ("query", "redacted"),
    [
        (b"token=abc&client_id=x", b"client_id=x"),
        (b"client_id=x&token=abc&token=def", b"client_id=x"),
        (b"token=abc", b""),
        (b"client_id=x", b"client_id=x"),
        (b"mytoken=1&token=2", b"mytoken=1"),
        (b"", b""),
    ],
)
def test_the_token_is_removed_from_the_logged_query(query: bytes, redacted: bytes) -> None:
    sc = scope(query)
    redact_token(sc)
    assert sc["query_string"] == redacted


async def test_an_unknown_protocol_is_refused_before_the_handshake(make_endpoint: Any) -> None:
    sock = FakeSocket()
    sock.push({"type": "websocket.connect"})
    await asyncio.wait_for(run(make_endpoint(), sock, scope(b"protocol=smoke-signals")), timeout(3))
    # A close before the accept refuses the upgrade (HTTP 403 from the server).
    assert sock.sent == [{"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION}]
