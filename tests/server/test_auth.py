"""Authentication over a live socket (PROTOCOL.md §2): query, header or first frame; 4003."""

from __future__ import annotations

import json
import logging

from support import closed_with, dial, expect, works
from websockets.asyncio.client import ClientConnection

from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig
from praison_push.protocol import CloseCode, should_reconnect

from .helpers import LogCapture, Serve

TOKEN = "s3cret-T0ken-9f8e"
WRONG = "wr0ng-T0ken-1a2b"


def secured(auth_timeout: float = 5.0) -> GatewayConfig:
    return GatewayConfig(
        auth=AuthConfig(tokens=[TOKEN]), limits=LimitsConfig(auth_timeout=auth_timeout)
    )


async def refused(ws: ClientConnection, message: str) -> None:
    """Check the gateway answered ``hello_error`` and closed with 4003."""
    await expect(ws, "hello_error", code="auth_required", message=message)
    assert await closed_with(ws) == CloseCode.AUTH_REQUIRED
    assert not should_reconnect(CloseCode.AUTH_REQUIRED)


async def test_no_token_is_refused_after_the_auth_timeout(serve: Serve) -> None:
    gateway = serve(secured(auth_timeout=0.2))
    async with dial(gateway.url) as ws:
        await refused(ws, "a valid token is required")


async def test_wrong_token_in_the_query_is_refused_at_once(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(f"{gateway.url}?token={WRONG}") as ws:
        await refused(ws, "invalid token")


async def test_wrong_token_in_the_header_is_refused(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(gateway.url, additional_headers={"Authorization": f"Bearer {WRONG}"}) as ws:
        await refused(ws, "invalid token")


async def test_wrong_token_in_the_auth_frame_is_refused(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(gateway.url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": WRONG}))
        await refused(ws, "invalid token")


async def test_a_first_frame_that_is_not_auth_is_refused(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(gateway.url) as ws:
        await ws.send('{"type":"channel.subscribe","channel":"c"}')
        await refused(ws, "a valid token is required")


async def test_token_in_the_query(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(f"{gateway.url}?token={TOKEN}&client_id=q") as ws:
        await expect(ws, "connected", client_id="q")
        await works(ws)


async def test_token_in_the_bearer_header(serve: Serve) -> None:
    gateway = serve(secured())
    for scheme in ("Bearer", "bearer"):
        async with dial(
            gateway.url, additional_headers={"Authorization": f"{scheme} {TOKEN}"}
        ) as ws:
            await expect(ws, "connected")
            await works(ws)


async def test_token_in_the_first_frame(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(gateway.url + "?client_id=framed") as ws:
        await ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        await expect(ws, "connected", client_id="framed")
        await works(ws)


async def test_envelope_style_auth_frame_is_understood(serve: Serve) -> None:
    gateway = serve(secured())
    async with dial(gateway.url + "?protocol=praison") as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": TOKEN}}))
        # The connection speaks the native dialect (?protocol=praison): its greeting
        # is ``connected``, whichever shape of auth frame carried the token.
        await expect(ws, "connected")
        await works(ws)


async def test_a_non_bearer_authorization_header_is_not_a_token(serve: Serve) -> None:
    gateway = serve(secured(auth_timeout=0.2))
    async with dial(gateway.url, additional_headers={"Authorization": f"Basic {TOKEN}"}) as ws:
        await refused(ws, "a valid token is required")


async def test_open_gateway_needs_no_token(serve: Serve) -> None:
    gateway = serve()
    async with dial(gateway.url) as ws:
        await expect(ws, "connected")
        await ws.send(json.dumps({"type": "auth", "token": "ignored", "ref": "a"}))
        await expect(ws, "connected", ref="a")


async def test_auth_timeout_is_enforced(serve: Serve) -> None:
    gateway = serve(secured(auth_timeout=0.2))
    async with dial(gateway.url) as ws:
        # Nothing sent: the gateway must not wait longer than auth_timeout (plus slack).
        await refused(ws, "a valid token is required")
    async with dial(gateway.url) as late:
        await expect(late, "hello_error")
        # Too late now: the connection is already refused.
        assert await closed_with(late) == CloseCode.AUTH_REQUIRED


async def test_a_client_that_leaves_during_auth_is_forgotten(serve: Serve) -> None:
    gateway = serve(secured(auth_timeout=0.2))
    ws = await dial(gateway.url)
    await ws.close()
    async with dial(f"{gateway.url}?token={TOKEN}") as other:
        await expect(other, "connected")
        await works(other)
    assert len(gateway.gateway.hub.connections) <= 1  # type: ignore[union-attr]


async def test_tokens_never_reach_the_logs(serve: Serve, logs: LogCapture) -> None:
    gateway = serve(secured(auth_timeout=0.2))
    # INFO is uvicorn's default level: it logs each accepted WebSocket's path.
    logs.attach(uvicorn_level=logging.INFO)
    async with dial(f"{gateway.url}?token={TOKEN}&client_id=q") as ws:
        await expect(ws, "connected")
        await ws.send('{"type":"channel.publish","channel":"c","data":1}')
        await expect(ws, "channel.published")
    async with dial(gateway.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        await expect(ws, "connected")
    async with dial(gateway.url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": TOKEN}))
        await expect(ws, "connected")
    for url in (f"{gateway.url}?token={WRONG}", gateway.url):
        async with dial(url) as ws:
            if "token" not in url:
                await ws.send(json.dumps({"type": "auth", "token": WRONG}))
            await refused(ws, "invalid token")
    async with dial(gateway.url, additional_headers={"Authorization": f"Bearer {WRONG}"}) as ws:
        await refused(ws, "invalid token")
    # The test's own client logs its request line; the gateway side must not.
    text = logs.text(exclude=("websockets.client",))
    assert "WebSocket /ws" in text  # uvicorn did log the connections...
    assert "client_id=q" in text  # ...with their query strings...
    assert TOKEN not in text  # ...but never a token, right or wrong.
    assert WRONG not in text
    assert "refused a connection" in text
