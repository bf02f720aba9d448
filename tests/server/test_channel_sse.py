"""``GET /api/push/sse?channels=``: channel messages as SSE, resumed by ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from support import http_client, timeout, wait_until

from praison_push.config import GatewayConfig, PresenceConfig, PushConfig
from praison_push.server import GatewayThread

from .helpers import Serve

SSE = "/api/push/sse"


def _config(**presence: Any) -> GatewayConfig:
    return GatewayConfig(push=PushConfig(enabled=True, presence=PresenceConfig(**presence)))


async def _publisher(http: httpx.AsyncClient) -> str:
    response = await http.post("/api/push/poll/register", json={"client_id": "pub"})
    token: str = response.json()["poll_token"]
    return token


async def _publish(http: httpx.AsyncClient, token: str, channel: str, data: Any) -> None:
    response = await http.post(
        "/api/push/poll/publish", json={"poll_token": token, "channel": channel, "data": data}
    )
    assert response.status_code == 200, response.text


async def _collect(
    http: httpx.AsyncClient, url: str, count: int, headers: dict[str, str] | None = None
) -> tuple[list[ServerSentEvent], list[ServerSentEvent]]:
    """Read ``count`` channel messages (and every event before) off a new stream, then drop it."""
    got: list[ServerSentEvent] = []
    seen: list[ServerSentEvent] = []
    async with aconnect_sse(http, "GET", url, headers=dict(headers or {})) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")

        async def read() -> None:
            async for event in source.aiter_sse():
                seen.append(event)
                if event.event == "channel_message":
                    got.append(event)
                    if len(got) == count:
                        return
                if event.event == "subscribed" and count == 0:
                    return

        await asyncio.wait_for(read(), timeout(10))
    return got, seen


async def test_channel_messages_with_ids_and_exact_resume(serve: Serve) -> None:
    gateway = serve(_config())
    async with http_client(base_url=gateway.http_url, timeout=timeout(10)) as http:
        pub = await _publisher(http)
        # The stream subscribes before the first publication: a 'subscribed' record says where.
        first_part: list[ServerSentEvent] = []
        async with aconnect_sse(http, "GET", f"{SSE}?channels=a,b") as source:
            stream = source.aiter_sse()
            first = await asyncio.wait_for(anext(stream), timeout(5))
            assert (first.retry, first.data) == (3000, "")
            subscribed = await asyncio.wait_for(anext(stream), timeout(5))
            assert subscribed.event == "subscribed"
            for n in range(3):
                await _publish(http, pub, "a", n)
                await _publish(http, pub, "b", n)
            while len(first_part) < 4:
                event = await asyncio.wait_for(anext(stream), timeout(5))
                if event.event == "channel_message":
                    first_part.append(event)
            await stream.aclose()
        # Dropped after 4 of 6: a:0 b:0 a:1 b:1. Two more are published while away.
        assert [json.loads(e.data)["data"] for e in first_part] == [0, 0, 1, 1]
        last_id = first_part[-1].id
        assert last_id.startswith("a:") and ",b:" in last_id
        await _publish(http, pub, "a", 3)
        rest, _ = await _collect(http, f"{SSE}?channels=a,b", 3, {"Last-Event-ID": last_id})
        seen = [(json.loads(e.data)["channel"], json.loads(e.data)["data"]) for e in rest]
        # Replay is in order within each channel (channel by channel).
        assert sorted(seen) == [("a", 2), ("a", 3), ("b", 2)]
        # The same position given as ?since= (no header) resumes the same way.
        again, _ = await _collect(http, f"{SSE}?channels=a,b&since={last_id}", 3)
        assert [(json.loads(e.data)["channel"], json.loads(e.data)["data"]) for e in again] == seen
        assert len({e.id for e in again}) == 3


async def test_keepalive_comments_while_quiet_and_cleanup_on_drop(serve: Serve) -> None:
    gateway = serve(_config(heartbeat_interval=1))
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    async with http_client(base_url=gateway.http_url, timeout=timeout(10)) as http:
        async with http.stream("GET", f"{SSE}?channels=quiet") as response:
            lines = response.aiter_lines()

            async def until_keepalive() -> None:
                async for line in lines:
                    if line == ": keepalive":
                        return

            await asyncio.wait_for(until_keepalive(), timeout(5))
            assert len(hub.connections) == 1
        await wait_until(lambda: not hub.connections)
        channel = hub.channels.get("quiet")
        assert channel is None or not channel.subscribers


@pytest.mark.parametrize(
    ("method", "query", "headers", "status", "names"),
    [
        ("GET", "", {}, 400, "channels"),
        ("GET", "?channels=a&since=garbage", {}, 400, "since"),
        ("GET", "?channels=a", {"Last-Event-ID": "a:zz:notanumber"}, 400, "since"),
        ("GET", "?channels=bad%20name", {}, 400, "channel"),
        ("GET", "?channels=" + ",".join(f"c{n}" for n in range(101)), {}, 413, "channels"),
        ("GET", "?poll_token=unknown", {}, 404, "poll_token"),
        ("POST", "?channels=a", {}, 405, "GET"),
        ("DELETE", "?channels=a", {}, 405, "GET"),
    ],
)
async def test_bad_requests_are_named_4xx(
    serve: Serve, method: str, query: str, headers: dict[str, str], status: int, names: str
) -> None:
    gateway = serve(_config())
    async with http_client(base_url=gateway.http_url, timeout=timeout(10)) as http:
        response = await http.request(method, f"{SSE}{query}", headers=headers)
        assert response.status_code == status, response.text
        assert response.json()["code"] and names in response.text
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    await wait_until(lambda: not hub.connections)


async def test_auth_is_required_like_ws(serve: Serve) -> None:
    from praison_push.config import AuthConfig

    gateway: GatewayThread = serve(
        GatewayConfig(push=PushConfig(enabled=True), auth=AuthConfig(tokens=["s3cret"]))
    )
    async with http_client(base_url=gateway.http_url, timeout=timeout(10)) as http:
        assert (await http.get(f"{SSE}?channels=a")).status_code == 401
        assert (await http.get(f"{SSE}?channels=a&token=wrong")).status_code == 401
        _, seen = await _collect(http, f"{SSE}?channels=a&token=s3cret", 0)
        assert seen[0].retry == 3000 and seen[-1].event == "subscribed"


async def test_a_busy_stream_stays_online_in_presence(serve: Serve) -> None:
    # Records arrive more often than the keepalive: the stream must still count as alive,
    # past offline_timeout and three upkeep ticks (a quarter heartbeat each). Both timers
    # are whole seconds; 1 s is the shortest.
    gateway = serve(_config(heartbeat_interval=1, offline_timeout=1))
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    async with http_client(base_url=gateway.http_url, timeout=timeout(10)) as http:
        pub = await _publisher(http)
        async with http.stream("GET", f"{SSE}?channels=busy&client_id=reader") as response:
            lines = response.aiter_lines()
            assert await anext(lines) == "retry: 3000"
            (reader,) = [c for c in hub.connections.values() if c.client_id == "reader"]
            loop = asyncio.get_running_loop()
            until = loop.time() + 1 + 3 * 0.25
            while loop.time() < until:
                await _publish(http, pub, "busy", "tick")
                await asyncio.sleep(0.2)
                assert not reader.stale, "a busy stream was shown offline"
