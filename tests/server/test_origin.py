"""Issue 13, finding 2: the Origin and Host policy on every WebSocket upgrade and HTTP route.

A page of another site must not open a gateway's WebSocket or ``POST`` to it
(it would publish, read history and run agents with the CLI's default of no
token), and a DNS-rebinding page (a foreign ``Host`` on 127.0.0.1) must not
reach it at all.
"""

from __future__ import annotations

import asyncio
import base64
import os
from urllib.parse import urlsplit

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support import http_client, timeout

from praison_push.config import AuthConfig, GatewayConfig
from praison_push.server import GatewayThread
from praison_push.server.origin import is_loopback_host, origin_allowed

from .conftest import Serve

EVIL = "http://evil.example"


async def upgrade_status(gateway: GatewayThread, path: str = "/ws", **headers: str) -> int:
    """The HTTP status a raw WebSocket upgrade gets (101: accepted)."""
    parts = urlsplit(gateway.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    fields = {
        "Host": f"{parts.hostname}:{parts.port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **{key.replace("_", "-"): value for key, value in headers.items()},
    }
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    writer.write((request + "\r\n").encode())
    try:
        line = await asyncio.wait_for(reader.readline(), timeout(5))
    finally:
        writer.close()
    return int(line.split()[1])


def own_origin(gateway: GatewayThread) -> str:
    parts = urlsplit(gateway.http_url)
    return f"http://{parts.hostname}:{parts.port}"


async def test_a_foreign_origin_cannot_open_the_websocket(serve: Serve) -> None:
    gateway = serve()
    assert await upgrade_status(gateway, Origin=EVIL) == 403
    assert await upgrade_status(gateway, "/ws/session_1", Origin=EVIL) == 403
    assert await upgrade_status(gateway, Origin="null") == 403
    # Pages of this machine (any port), the gateway's own origin, and non-browser clients:
    assert await upgrade_status(gateway, Origin="http://localhost:5555") == 101
    assert await upgrade_status(gateway, Origin="http://127.0.0.1:1") == 101
    assert await upgrade_status(gateway, Origin="http://[::1]:8888") == 101
    assert await upgrade_status(gateway, Origin=own_origin(gateway)) == 101
    assert await upgrade_status(gateway) == 101


async def test_dns_rebinding_host_is_refused(serve: Serve) -> None:
    gateway = serve()
    port = urlsplit(gateway.url).port
    rebound = f"rebind.evil.example:{port}"
    # Same-origin as far as the page knows: Origin and Host agree, on a foreign name.
    assert await upgrade_status(gateway, Host=rebound, Origin=f"http://{rebound}") == 403
    assert await upgrade_status(gateway, Host=rebound) == 403
    async with http_client(base_url=gateway.http_url, timeout=timeout(5)) as http:
        health = await http.get("/health", headers={"Host": rebound})
        assert health.status_code == 403
        assert health.json()["code"] == "forbidden" and "host" in health.json()["message"]
        assert (await http.get("/health", headers={"Host": f"localhost:{port}"})).is_success


async def test_a_proxy_host_can_be_allowed(serve: Serve) -> None:
    gateway = serve(GatewayConfig(auth=AuthConfig(allowed_hosts=["Push.Example.com"])))
    assert await upgrade_status(gateway, Host="push.example.com") == 101
    assert await upgrade_status(gateway, Host="other.example.com") == 403


async def test_a_foreign_origin_cannot_start_a_run_over_http(serve: Serve) -> None:
    gateway = serve()
    hub = gateway.gateway.hub if gateway.gateway else None
    assert hub is not None
    body = {"input": "hello"}
    async with http_client(base_url=gateway.http_url, timeout=timeout(5)) as http:
        refused = await http.post(
            "/v1/agents/echo/execute/stream", json=body, headers={"Origin": EVIL}
        )
        assert refused.status_code == 403
        assert refused.json() == {
            "type": "error",
            "code": "forbidden",
            "message": f"origin {EVIL!r} is not allowed (AuthConfig.allowed_origins)",
        }
        assert len(hub.runs) == 0
        allowed = await http.post(
            "/v1/agents/echo/execute/stream",
            json=body,
            headers={"Origin": "http://localhost:3000"},
        )
        assert allowed.status_code == 200 and "hello" in allowed.text


async def test_a_route_added_to_the_app_is_covered(serve: Serve) -> None:
    gateway = serve()
    assert gateway.gateway is not None

    async def poke(request: Request) -> JSONResponse:
        return JSONResponse({"poked": True})

    app = gateway.gateway.asgi_app()
    app.starlette.router.routes.append(Route("/v1/poke", poke, methods=["POST", "GET"]))
    async with http_client(base_url=gateway.http_url, timeout=timeout(5)) as http:
        assert (await http.post("/v1/poke", headers={"Origin": EVIL})).status_code == 403
        assert (await http.post("/v1/poke")).json() == {"poked": True}
        # A GET changes nothing, and without CORS headers the page cannot read it.
        assert (await http.get("/v1/poke", headers={"Origin": EVIL})).status_code == 200


async def test_configured_origins(serve: Serve) -> None:
    listed = serve(GatewayConfig(auth=AuthConfig(allowed_origins=["https://app.example:*"])))
    assert await upgrade_status(listed, Origin="https://app.example") == 101
    assert await upgrade_status(listed, Origin="https://app.example:8443") == 101
    assert await upgrade_status(listed, Origin="http://app.example") == 403
    assert await upgrade_status(listed, Origin="http://localhost:5555") == 403
    anyone = serve(GatewayConfig(auth=AuthConfig(allowed_origins=["*"])))
    assert await upgrade_status(anyone, Origin=EVIL) == 101


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://localhost:8888", "127.0.0.1:8765", True),
        ("https://localhost", "127.0.0.1:8765", True),
        ("http://localhost.evil.example:80", "127.0.0.1:8765", False),
        ("http://127.0.0.1.evil.example", "127.0.0.1:8765", False),
        ("https://push.example.com", "push.example.com", True),  # same origin, default port
        ("http://push.example.com", "push.example.com:8080", False),
        ("javascript:alert(1)", "127.0.0.1", False),
        ("http://[::1", "127.0.0.1", False),
    ],
)
def test_origin_rules(origin: str, host: str, allowed: bool) -> None:
    assert origin_allowed(origin, host, AuthConfig()) is allowed


def test_allowed_origins_are_validated() -> None:
    with pytest.raises(ValueError, match="allowed_origins"):
        AuthConfig(allowed_origins=["app.example"])
    with pytest.raises(ValueError, match="allowed_origins"):
        AuthConfig(allowed_origins=["https://app.example/path"])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("localhost.evil.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "path",
    [
        "/api/push/poll/register",
        "/api/push/poll/publish",
        "/v1/agents/echo/ag-ui",
        "/v1/agents/echo/ai-sdk",
        "/v1/runs/run_1/cancel",
        "/v1/agents/echo/execute/stream",
    ],
)
async def test_every_state_changing_route_refuses_a_foreign_origin(serve: Serve, path: str) -> None:
    """The routes of every transport (long-poll, agent UIs, runs) pass the same check."""
    gateway = serve()
    async with http_client(base_url=gateway.http_url, timeout=timeout(5)) as http:
        refused = await http.post(path, json={}, headers={"Origin": EVIL})
        plain = await http.post(path, json={})  # the route exists and answers itself
    assert plain.text != "Not Found" and "allowed_origins" not in plain.text, plain.text
    assert refused.status_code == 403, (path, refused.text)
    assert "allowed_origins" in refused.json()["message"]
