"""The SSE run endpoint in-process: a hub on memory backends behind an ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import ClientDisconnect, Request
from support import http_client, timeout

from praison_push.agents import AgentRegistry, register_demo_agents
from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig, TokenGrant
from praison_push.hub import Hub, Principal
from praison_push.hub.encoding import SSE_EXECUTION
from praison_push.protocol import CloseCode, ErrorCode, FrameError
from praison_push.protocol.sse import SSE_DONE, sse_record
from praison_push.server.app import create_app
from praison_push.server.sse import ExecutionStream, error_response

from .helpers import SSEParser


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    grants = [TokenGrant(token="tok", user_id="alice", org_id="acme")]  # type: ignore[arg-type]
    config = GatewayConfig(
        auth=AuthConfig(tokens=grants),  # type: ignore[arg-type]
        limits=LimitsConfig(max_connections_per_user=1),
    )
    agents = AgentRegistry()
    register_demo_agents(agents)
    hub = Hub(
        config, history=MemoryHistoryStore(config.history), broker=MemoryBroker(), agents=agents
    )
    yield hub
    await hub.close()


def http(hub: Hub) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(hub))
    return http_client(transport=transport, base_url="http://gw", timeout=timeout(5))


async def test_a_token_in_the_query_string_works(hub: Hub) -> None:
    async with http(hub) as client:
        response = await client.post(
            "/v1/agents/echo/execute/stream?token=tok", json={"input": "hi"}
        )
    assert response.status_code == 200
    events = SSEParser().feed(response.text)
    assert [event.event for event in events] == ["execution_start", "token", "complete", "done"]
    assert not hub.connections  # the stream's connection is gone with the stream


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.UNKNOWN_AGENT, 404),
        (ErrorCode.UNAUTHORIZED, 401),
        (ErrorCode.TOO_LARGE, 413),
        (ErrorCode.LIMIT_EXCEEDED, 429),
        (ErrorCode.FORBIDDEN, 403),
        (ErrorCode.INVALID_FIELD, 400),
        (ErrorCode.BAD_FRAME, 400),
    ],
)
def test_error_statuses(code: ErrorCode, status: int) -> None:
    response = error_response(FrameError(code, "nope", field="input"))
    assert response.status_code == status
    assert response.body == b'{"code":"%s","message":"nope","details":{"field":"input"}}' % (
        code.value.encode()
    )


async def test_over_the_connection_limit_is_429_and_leaves_no_run(hub: Hub) -> None:
    held = hub.connect(client_id=None, principal=Principal("alice", "acme"), peer="10.0.0.1")
    async with http(hub) as client:
        headers = {"Authorization": "Bearer tok"}
        response = await client.post(
            "/v1/agents/echo/execute/stream", json={"input": "hi"}, headers=headers
        )
    assert response.status_code == 429
    assert response.json()["code"] == "limit_exceeded"
    assert response.json()["details"]["limit"] == "max_connections_per_user"
    # The refused request started nothing, and left nothing half-made behind.
    assert len(hub.runs) == 0
    assert hub.runs.records() == []
    hub.disconnect(held)


async def test_a_refused_run_releases_its_connection_slot(hub: Hub) -> None:
    async with http(hub) as client:
        headers = {"Authorization": "Bearer tok"}
        url = "/v1/agents/{}/execute/stream"
        missing = await client.post(url.format("ghost"), json={"input": "hi"}, headers=headers)
        empty = await client.post(url.format("echo"), json={"input": ""}, headers=headers)
        ok = await client.post(url.format("echo"), json={"input": "hi"}, headers=headers)
    assert (missing.status_code, empty.status_code, ok.status_code) == (404, 400, 200)
    assert not hub.connections


async def test_frames_queued_before_a_close_are_still_sent(hub: Hub) -> None:
    """A gateway shutting down cancels runs and then closes connections: an SSE client
    must still get the cancelled run's ``error`` and ``done``, queued before the close."""
    connection = hub.connect(
        client_id=None, principal=Principal(), peer="", dialect=SSE_EXECUTION, greet=False
    )
    error = sse_record(
        "error", {"code": "CANCELLED", "message": "cancelled", "status": "cancelled"}
    )
    connection.send_text(error)
    connection.send_text(SSE_DONE)
    connection.close(CloseCode.GOING_AWAY, "gateway shutting down")
    chunks = [chunk async for chunk in ExecutionStream(hub)._stream(connection)]
    assert "".join(chunks) == f"retry: 3000\n\n{error}{SSE_DONE}"
    assert connection.connection_id not in hub.connections


async def test_a_stream_ends_when_its_connection_is_closed(hub: Hub) -> None:
    connection = hub.connect(
        client_id=None, principal=Principal(), peer="", dialect=SSE_EXECUTION, greet=False
    )
    stream = ExecutionStream(hub)._stream(connection)
    assert await anext(stream) == "retry: 3000\n\n"
    waiting = asyncio.ensure_future(anext(stream))
    connection.send_text(": keepalive\n\n")
    assert await asyncio.wait_for(waiting, timeout(3)) == ": keepalive\n\n"
    waiting = asyncio.ensure_future(anext(stream))
    connection.close(CloseCode.SLOW_CONSUMER, "send queue full")  # drops the backlog
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, timeout(3))
    assert connection.connection_id not in hub.connections


async def test_a_client_gone_before_the_first_byte_leaves_no_connection(hub: Hub) -> None:
    """An ASGI 2.4 server raises on ``send`` to a vanished client, before the body
    generator has started: the connection must still be let go."""
    body = [{"type": "http.request", "body": b'{"input": "hi"}', "more_body": False}]

    async def receive() -> dict[str, Any]:
        return body.pop(0) if body else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise OSError("connection reset by peer")

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "method": "POST",
        "path": "/v1/agents/echo/execute/stream",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer tok")],
        "path_params": {"agent_id": "echo"},
    }
    response = await ExecutionStream(hub).handle(Request(scope, receive))
    assert len(hub.connections) == 1
    with pytest.raises(ClientDisconnect):
        await response(scope, receive, send)
    assert not hub.connections
    # The run itself goes on: it belongs to the gateway, not to the request.
    (run,) = hub.runs.records()
    assert run.task is not None
    await asyncio.wait_for(run.task, timeout(3))
    assert run.status == "completed"


async def test_sse_runs_count_towards_max_runs_per_connection() -> None:
    """An SSE run starts the way a WebSocket ``execute`` does: the runs of one client
    (``?client_id=``, as for ``/ws``) are bounded by ``max_runs_per_connection``."""
    config = GatewayConfig(limits=LimitsConfig(max_runs_per_connection=1))
    agents = AgentRegistry()
    register_demo_agents(agents)
    release = asyncio.Event()

    async def blocked(text: str) -> Any:
        yield "started "
        await release.wait()

    agents.register("blocked", blocked)
    hub = Hub(
        config, history=MemoryHistoryStore(config.history), broker=MemoryBroker(), agents=agents
    )
    try:
        ws = hub.connect(client_id="alice", principal=Principal(), peer="127.0.0.1")
        await hub.receive(ws, '{"type":"execute","agent_id":"blocked","input":"hold","ref":1}')
        accepted = [frame for frame in ws.drain() if "execute.accepted" in frame]
        assert len(accepted) == 1
        async with http(hub) as client:
            url = "/v1/agents/echo/execute/stream"
            refused = await client.post(f"{url}?client_id=alice", json={"input": "hi"})
            other = await client.post(f"{url}?client_id=bob", json={"input": "hi"})
        assert refused.status_code == 429
        assert refused.json()["details"] == {"limit": "max_runs_per_connection", "max": 1}
        assert other.status_code == 200  # the limit is per client
        assert [event.event for event in SSEParser().feed(other.text)][-1] == "done"
    finally:
        release.set()
        await hub.close()
