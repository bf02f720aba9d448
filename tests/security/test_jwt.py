"""Issue 13, build 2: JWT identities, expiry (auth_error + 4001), in-band ``auth.refresh``,
and a pluggable ``authenticate(token, request)``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from support import ask, closed_with, dial, expect, http_client, next_frame, timeout

from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import AuthConfig, GatewayConfig, HistoryConfig, JWTConfig
from praison_push.hub import Hub, Principal
from praison_push.hub.auth import AuthError, AuthRequest
from praison_push.server import GatewayThread

from .conftest import hs256_config
from .jwt_support import AUDIENCE, ISSUER, SHORT_TTL, hs256, public_pem, rs256, write_jwks


async def envelope_auth(url: str, token: str) -> dict[str, object]:
    async with dial(url + "?protocol=envelope") as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": token}}))
        reply: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), timeout(3)))
        return reply


async def test_a_jwt_names_the_user_and_org(jwt_gateway: GatewayThread) -> None:
    reply = await envelope_auth(jwt_gateway.url, hs256("alice", "acme"))
    assert reply["type"] == "auth_success"
    payload = reply["payload"]
    assert isinstance(payload, dict)
    assert (payload["user_id"], payload["org_id"]) == ("alice", "acme")
    async with dial(f"{jwt_gateway.url}?token=operator-token") as ws:  # static tokens too
        await expect(ws, "connected")


@pytest.mark.parametrize(
    "make",
    [
        lambda: hs256(aud="someone-else"),
        lambda: hs256(iss="https://evil.test"),
        lambda: hs256() + "x",
        lambda: hs256(exp=None),  # no exp
        lambda: "a.b.c",
    ],
    ids=["audience", "issuer", "signature", "no-exp", "garbage"],
)
async def test_bad_jwts_are_refused(jwt_gateway: GatewayThread, make: Callable[[], str]) -> None:
    # Minted as the test runs: one minted at collection could expire before a long
    # run reaches it, and be refused for that (4001) instead of its own fault (4003).
    token = make()
    async with dial(f"{jwt_gateway.url}?token={token}") as ws:
        refused = await next_frame(ws)
        assert await closed_with(ws) == 4003
    assert refused["type"] == "hello_error" and refused["code"] == "auth_required"
    assert token not in json.dumps(refused)


async def test_an_expired_jwt_gets_auth_error_and_4001(jwt_gateway: GatewayThread) -> None:
    expired = hs256(ttl=-60)
    async with dial(f"{jwt_gateway.url}?token={expired}") as ws:
        refused = await next_frame(ws)
        assert await closed_with(ws) == 4001
    assert refused == {"type": "hello_error", "code": "token_expired", "message": "token expired"}
    async with dial(jwt_gateway.url + "?protocol=envelope") as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": expired}}))
        error = await next_frame(ws)
        assert await closed_with(ws) == 4001
    assert error["type"] == "auth_error" and error["payload"]["code"] == "TOKEN_EXPIRED"


async def test_a_connection_is_closed_when_its_jwt_expires(
    expiring_gateway: GatewayThread,
) -> None:
    async with dial(f"{expiring_gateway.url}?token={hs256(ttl=SHORT_TTL)}") as ws:
        await expect(ws, "connected")
        frames = []
        code = None
        while code is None:  # bounded: closed_with fails past its wait
            try:
                frames.append(await next_frame(ws, seconds=4))
            except Exception:
                code = await closed_with(ws)
    assert code == 4001
    assert frames[-1]["code"] == "token_expired"


async def test_auth_refresh_answers(jwt_gateway: GatewayThread) -> None:
    async with dial(f"{jwt_gateway.url}?token={hs256('alice', 'acme', ttl=60)}") as ws:
        await expect(ws, "connected")
        fresh = hs256("alice", "acme", ttl=300)
        refreshed = await ask(ws, "auth.refresh", token=fresh, ref="r1")
        assert refreshed["type"] == "auth.refreshed" and refreshed["ok"] is True
        assert refreshed["ref"] == "r1" and refreshed["expires_at"] > 0
        # Another identity's token, or a bad one, is refused; the connection stays.
        other = await ask(ws, "auth.refresh", token=hs256("mallory", "acme"))
        assert (other["type"], other["code"]) == ("error", "forbidden")
        bad = await ask(ws, "auth.refresh", token=hs256(ttl=-5))
        assert (bad["type"], bad["code"]) == ("error", "unauthorized")
        assert "expired" in bad["message"]
        assert (await ask(ws, "ping", id="p"))["type"] == "pong"


async def test_a_refreshed_connection_outlives_its_first_token() -> None:
    """The upkeep's sweep, at a time past the first token's ``exp``: only the
    connection that sent ``auth.refresh`` stays open."""
    hub = Hub(hs256_config(), history=MemoryHistoryStore(HistoryConfig()), broker=MemoryBroker())
    try:
        first = hs256("alice", "acme", ttl=60)
        principal = hub.login(first)
        assert principal.expires_at is not None
        kept = hub.connect(client_id=None, principal=principal, peer="127.0.0.1")
        dropped = hub.connect(client_id=None, principal=principal, peer="127.0.0.1")
        refresh = {"type": "auth.refresh", "token": hs256("alice", "acme", ttl=600)}
        await hub.receive(kept, json.dumps(refresh))
        hub.sweep(principal.expires_at + 1)
        assert kept.close_code is None
        assert dropped.close_code == 4001
        sent = [json.loads(text) for text in dropped.drain()]
        assert sent[-1] == {
            "type": "hello_error",
            "code": "token_expired",
            "message": "token expired",
        }
    finally:
        await hub.close()


async def test_rs256_with_a_public_key_and_with_a_jwks_file(
    gateway_factory: Callable[..., GatewayThread], tmp_path: Path
) -> None:
    keyed = JWTConfig(algorithms=["RS256"], public_key=public_pem(), audience=AUDIENCE)
    by_key = gateway_factory(GatewayConfig(auth=AuthConfig(jwt=keyed)))
    reply = await envelope_auth(by_key.url, rs256("bob", "globex", kid=None))
    assert reply["type"] == "auth_success"
    jwks = JWTConfig(
        algorithms=["RS256"], jwks_file=str(write_jwks(tmp_path / "jwks.json")), issuer=ISSUER
    )
    by_set = gateway_factory(GatewayConfig(auth=AuthConfig(jwt=jwks)))
    assert (await envelope_auth(by_set.url, rs256("bob", kid="k1")))["type"] == "auth_success"
    assert (await envelope_auth(by_set.url, rs256("bob", kid="k2")))["type"] == "auth_error"
    # An HS256 token signed with the public key as a secret (algorithm confusion) is refused.
    import jwt as pyjwt

    forged = pyjwt.encode(
        {"sub": "bob", "exp": 2**31}, "an-hmac-secret-the-gateway-never-had-1234", algorithm="HS256"
    )
    assert (await envelope_auth(by_key.url, forged))["type"] == "auth_error"


def test_jwt_config_is_checked() -> None:
    with pytest.raises(ValueError, match="needs a secret"):
        JWTConfig()
    with pytest.raises(ValueError, match="public_key or jwks_file"):
        JWTConfig(algorithms=["RS256"])
    with pytest.raises(ValueError, match="do not mix"):
        JWTConfig(algorithms=["HS256", "RS256"], secret="s", public_key="k")  # type: ignore[arg-type]
    assert "s3cr3t" not in repr(JWTConfig(secret="s3cr3t"))  # type: ignore[arg-type]


async def test_a_pluggable_authenticate(gateway_factory: Callable[..., GatewayThread]) -> None:
    seen: list[AuthRequest] = []

    def authenticate(token: str | None, request: AuthRequest) -> Principal | None:
        seen.append(request)
        if request.headers.get("cookie") == "session=s1":
            return Principal("carol", "initech")
        if token == "expired":
            raise AuthError("token expired", "token_expired")
        return None

    gateway = gateway_factory()
    gateway.stop()
    gateway = GatewayThread(gateway.config, authenticate=authenticate).start()
    try:
        async with dial(gateway.url, additional_headers={"Cookie": "session=s1"}) as ws:
            greeting = await expect(ws, "connected")
            reply = await ask(ws, "channel.subscribe", channel="notifications")
            assert reply["type"] == "channel.subscribed"
        assert greeting["client_id"]
        assert seen[-1].transport == "websocket" and seen[-1].path == "/ws"
        assert "authorization" not in seen[-1].headers
        async with dial(f"{gateway.url}?token=expired") as ws:
            assert (await next_frame(ws))["code"] == "token_expired"
            assert await closed_with(ws) == 4001
        async with dial(f"{gateway.url}?token=nope") as ws:
            assert (await next_frame(ws))["type"] == "hello_error"
            assert await closed_with(ws) == 4003
    finally:
        gateway.stop()


def test_a_failing_authenticate_hook_refuses(caplog: pytest.LogCaptureFixture) -> None:
    from praison_push.hub import Authenticator

    def broken(token: str | None, request: AuthRequest) -> Principal | None:
        raise KeyError("bug")

    with pytest.raises(AuthError, match="authentication failed"):
        Authenticator(AuthConfig(), broken).login("t")
    assert "authenticate hook failed" in caplog.text


async def test_an_sse_run_stream_ends_cleanly_when_its_jwt_expires(
    expiring_gateway: GatewayThread,
) -> None:

    async def forever(text: str) -> AsyncIterator[str]:
        yield "thinking "
        await asyncio.Event().wait()  # until the stream is ended for it

    assert expiring_gateway.gateway is not None
    hub = expiring_gateway.gateway.hub
    expiring_gateway.call(lambda: hub.agents.register("forever", forever))
    headers = {"Authorization": f"Bearer {hs256('alice', 'acme', ttl=SHORT_TTL)}"}
    lines: list[str] = []
    async with http_client(base_url=expiring_gateway.http_url, timeout=timeout(10)) as http:

        async def read() -> None:
            async with http.stream(
                "POST", "/v1/agents/forever/execute/stream", json={"input": "x"}, headers=headers
            ) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    lines.append(line)

        await asyncio.wait_for(read(), timeout(6))  # ends once the token expired
    fields = ("data:", "event:", "id:", "retry:", ":")
    assert all(not line or line.startswith(fields) for line in lines), lines
    assert any("thinking" in line for line in lines)


@pytest.mark.parametrize("route", ["/api/push/sse?channels=public:lobby", "poll"])
async def test_http_sessions_end_when_their_jwt_expires(
    expiring_gateway: GatewayThread, route: str
) -> None:
    """A channel SSE stream ends well-formed; a long-poll session reports its close (4001)."""

    headers = {"Authorization": f"Bearer {hs256('alice', 'acme', ttl=SHORT_TTL)}"}
    async with http_client(
        base_url=expiring_gateway.http_url, headers=headers, timeout=timeout(10)
    ) as http:
        if route == "poll":
            poll = (await http.post("/api/push/poll/register", json={})).json()["poll_token"]

            # The first poll takes the greeting; the next waits past the token's
            # expiry and the session's close ends it. (A poll sent after the expiry
            # is refused 401 token expired instead, so each poll waits long.)
            body: dict[str, object] = {"poll_token": poll, "timeout": 6}
            for _ in range(3):
                reply = (await http.post("/api/push/poll/messages", json=body)).json()
                if "closed" in reply:
                    break
                body["cursor"] = reply["cursor"]
            assert reply.get("closed", {}).get("code") == 4001, reply
            return
        lines: list[str] = []

        async def read() -> None:
            async with http.stream("GET", route) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    lines.append(line)

        await asyncio.wait_for(read(), timeout(6))
    fields = ("data:", "event:", "id:", "retry:", ":")
    assert all(not line or line.startswith(fields) for line in lines), lines
