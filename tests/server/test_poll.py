"""``/api/push/poll/*`` over real uvicorn: a poll client is a first-class hub connection."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from support import http_client, next_frame, raw_client, timeout, wait_until
from websockets.asyncio.client import ClientConnection

from praison_push.config import (
    AuthConfig,
    DeliveryConfig,
    GatewayConfig,
    LimitsConfig,
    PollingConfig,
    PushConfig,
    TokenGrant,
)
from praison_push.server import GatewayThread

from .helpers import Serve

POLL = "/api/push/poll"
ALICE, BOB = "alice-token", "bob-token"


def _config(**polling: Any) -> GatewayConfig:
    return GatewayConfig(
        push=PushConfig(enabled=True, polling=PollingConfig(**polling)),
        auth=AuthConfig(
            tokens=[
                TokenGrant(token=ALICE, user_id="alice"),
                TokenGrant(token=BOB, user_id="bob"),
            ]
        ),
    )


def _client(gateway: GatewayThread, token: str | None = ALICE) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http_client(base_url=gateway.http_url, headers=headers, timeout=timeout(10))


def _ws(gateway: GatewayThread) -> Any:
    return raw_client(gateway.url, additional_headers={"Authorization": f"Bearer {BOB}"})


async def _send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    import json

    await ws.send(json.dumps(frame))


async def _wait_for(ws: ClientConnection, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        frame = await next_frame(ws, max(0.01, deadline - asyncio.get_running_loop().time()))
        if predicate(frame):
            return frame


async def _register(http: httpx.AsyncClient, client_id: str | None = None) -> str:
    body = {"client_id": client_id} if client_id else {}
    response = await http.post(f"{POLL}/register", json=body)
    assert response.status_code == 200, response.text
    token: str = response.json()["poll_token"]
    return token


async def _poll(http: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    response = await http.post(f"{POLL}/messages", json={"poll_token": token, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_register_subscribe_publish_poll_ack_presence(serve: Serve) -> None:
    gateway = serve(_config(long_poll_timeout=5))
    async with _client(gateway) as http, _client(gateway, BOB) as bob:
        other = await _register(bob, "publisher")
        token = await _register(http, "poller-1")
        first = await _poll(http, token, timeout=0)
        assert [m["type"] for m in first["messages"]] == ["connected"]
        assert first["messages"][0]["client_id"] == "poller-1"
        sub = await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "news"})
        assert sub.status_code == 200 and sub.json()["ok"] is True
        assert sub.json()["type"] == "channel.subscribed"
        # A long poll waiting when the publication arrives returns at once.
        waiting = asyncio.ensure_future(_poll(http, token, timeout=5, cursor=first["cursor"]))
        published = await bob.post(
            f"{POLL}/publish", json={"poll_token": other, "channel": "news", "data": {"n": 1}}
        )
        assert published.status_code == 200 and published.json()["delivered"] == 1
        batch = await asyncio.wait_for(waiting, timeout(5))
        messages = [m for m in batch["messages"] if m["type"] == "channel_message"]
        assert [m["data"] for m in messages] == [{"n": 1}]
        ack = await http.post(
            f"{POLL}/ack", json={"poll_token": token, "event_id": messages[0]["event_id"]}
        )
        assert ack.status_code == 200 and ack.json()["type"] == "ack_received"
        beat = await http.post(
            f"{POLL}/heartbeat", json={"poll_token": token, "status": "away", "metadata": {"x": 1}}
        )
        assert beat.status_code == 200 and beat.json()["ok"] is True
        presence = await http.get(f"{POLL}/presence", params={"channel": "news"})
        assert presence.status_code == 200, presence.text
        entries = presence.json()["presence"]
        assert [(e["client_id"], e["status"]) for e in entries] == [("poller-1", "away")]
        unsub = await http.post(
            f"{POLL}/unsubscribe", json={"poll_token": token, "channel": "news"}
        )
        assert unsub.status_code == 200 and unsub.json()["ok"] is True


async def test_a_websocket_publish_reaches_a_poll_client_and_back(serve: Serve) -> None:
    gateway = serve(_config(long_poll_timeout=5))
    async with _client(gateway) as http, _ws(gateway) as ws:
        token = await _register(http, "poller-2")
        await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "mixed"})
        await _send(ws, {"type": "channel.subscribe", "channel": "mixed", "ref": "s"})
        await _wait_for(ws, lambda f: f.get("ref") == "s")
        await _send(ws, {"type": "channel.publish", "channel": "mixed", "data": "from-ws"})
        batch = await _poll(http, token, timeout=5)
        while not any(m["type"] == "channel_message" for m in batch["messages"]):
            batch = await _poll(http, token, timeout=5, cursor=batch["cursor"])
        assert [m["data"] for m in batch["messages"] if m["type"] == "channel_message"] == [
            "from-ws"
        ]
        await http.post(
            f"{POLL}/publish", json={"poll_token": token, "channel": "mixed", "data": "from-poll"}
        )
        frame = await _wait_for(
            ws, lambda f: f.get("type") == "channel_message" and f["data"] == "from-poll"
        )
        assert frame["channel"] == "mixed"


async def test_a_lost_batch_is_sent_again_by_cursor(serve: Serve) -> None:
    gateway = serve(_config(long_poll_timeout=5))
    async with _client(gateway) as http:
        token = await _register(http)
        other = await _register(http, "publisher")
        first = await _poll(http, token, timeout=0)
        await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "c"})
        await http.post(f"{POLL}/publish", json={"poll_token": other, "channel": "c", "data": 1})
        got = await _poll(http, token, timeout=5, cursor=first["cursor"])
        # The answer was lost on the way: the client asks again with the old cursor.
        again = await _poll(http, token, timeout=5, cursor=first["cursor"])
        assert again["messages"] == got["messages"] and again["cursor"] == got["cursor"]
        nothing = await _poll(http, token, timeout=0, cursor=got["cursor"])
        assert nothing["messages"] == []


async def test_batches_are_bounded_by_max_batch_size(serve: Serve) -> None:
    gateway = serve(_config(long_poll_timeout=5, max_batch_size=3))
    async with _client(gateway) as http:
        token = await _register(http)
        other = await _register(http, "publisher")
        await _poll(http, token, timeout=0)
        await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "b"})
        for n in range(5):
            await http.post(
                f"{POLL}/publish", json={"poll_token": other, "channel": "b", "data": n}
            )
        first = await _poll(http, token, timeout=0, max=50)
        assert len(first["messages"]) == 3
        second = await _poll(http, token, timeout=0, max=1, cursor=first["cursor"])
        assert len(second["messages"]) == 1


async def test_a_silent_poll_client_leaves_presence_and_channels(serve: Serve) -> None:
    gateway = serve(_config(long_poll_timeout=1))
    async with _client(gateway) as http, _ws(gateway) as ws:
        token = await _register(http, "quiet")
        await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "room"})
        await _send(ws, {"type": "channel.subscribe", "channel": "room", "ref": "s"})
        await _wait_for(ws, lambda f: f.get("ref") == "s")
        hub = gateway.gateway.hub  # type: ignore[union-attr]
        assert any(c.client_id == "quiet" for c in hub.connections.values())
        started = asyncio.get_running_loop().time()
        leave = await _wait_for(
            ws,
            lambda f: f.get("type") == "presence_leave" and f["data"]["client_id"] == "quiet",
            timeout=timeout(2 * 1 + 2),
        )
        elapsed = asyncio.get_running_loop().time() - started
        assert leave["channel"] == "room"
        assert elapsed <= 2 * 1 + timeout(0.5)  # 2 x long_poll_timeout, and a reaper tick
        await wait_until(lambda: all(c.client_id != "quiet" for c in hub.connections.values()))
        gone = await http.post(f"{POLL}/messages", json={"poll_token": token, "timeout": 0})
        assert gone.status_code == 404
        assert gone.json()["details"]["field"] == "poll_token"


async def test_overflow_closes_the_session_and_the_client_recovers_from_history(
    serve: Serve,
) -> None:
    gateway = serve(
        GatewayConfig(
            # Without acknowledged delivery: history alone brings back what was dropped.
            push=PushConfig(enabled=True, delivery=DeliveryConfig(enabled=False)),
            limits=LimitsConfig(send_queue_max_frames=10),
        )
    )
    async with _client(gateway, token=None) as http:
        token = await _register(http, "flooded")
        other = await _register(http, "publisher")
        await _poll(http, token, timeout=0)  # the greeting
        subscribed = await http.post(
            f"{POLL}/subscribe", json={"poll_token": token, "channel": "flood"}
        )
        epoch = subscribed.json()["epoch"]
        for n in range(12):  # the client does not poll meanwhile: its queue overflows
            await http.post(
                f"{POLL}/publish", json={"poll_token": other, "channel": "flood", "data": n}
            )
        batch = await _poll(http, token, timeout=0)
        while "closed" not in batch:
            batch = await _poll(http, token, timeout=0, cursor=batch["cursor"])
        assert batch["closed"]["code"] == 1013  # slow consumer: reconnect and recover
        gone = await http.post(f"{POLL}/messages", json={"poll_token": token, "timeout": 0})
        assert gone.status_code == 404
        # As the client does: register again and resubscribe from the last offset it saw.
        token = await _register(http, "flooded")
        await _poll(http, token, timeout=0)
        since = {"offset": 5, "epoch": epoch}
        again = await http.post(
            f"{POLL}/subscribe", json={"poll_token": token, "channel": "flood", "since": since}
        )
        assert again.status_code == 200, again.text
        assert again.json()["recovered"] is True, again.text
        replayed = await _poll(http, token, timeout=0)
        assert [m["data"] for m in replayed["messages"]] == list(range(5, 12))
        # Overflowing again while a command is handled: 410 naming the close, not a fake ok.
        for n in range(12, 24):
            await http.post(
                f"{POLL}/publish", json={"poll_token": other, "channel": "flood", "data": n}
            )
        late = await http.post(f"{POLL}/heartbeat", json={"poll_token": token})
        assert late.status_code in (404, 410), late.text


# --- bad input: 4xx JSON naming the problem, never a 500 or a traceback -------------------


@pytest.mark.parametrize(
    ("method", "route", "body", "status", "names"),
    [
        ("GET", "messages", None, 405, "POST"),
        ("PUT", "register", None, 405, "POST"),
        ("POST", "presence", None, 405, "GET"),
        ("POST", "nowhere", {}, 404, "nowhere"),
        ("POST", "deeper/messages", {}, 404, "deeper/messages"),
        ("POST", "messages", b"{not json", 400, "JSON"),
        ("POST", "messages", b"[1,2]", 400, "object"),
        ("POST", "messages", {}, 400, "poll_token"),
        ("POST", "messages", {"poll_token": 5}, 400, "poll_token"),
        ("POST", "messages", {"poll_token": "nope"}, 404, "poll_token"),
        ("POST", "register", {"client_id": 7}, 400, "client_id"),
        ("POST", "register", b"x" * (1024 * 1024), 413, "max_message_size"),
    ],
)
async def test_bad_input_is_a_named_4xx(
    serve: Serve, method: str, route: str, body: Any, status: int, names: str
) -> None:
    gateway = serve(_config())
    async with _client(gateway) as http:
        content = body if isinstance(body, bytes) else None
        json_body = body if not isinstance(body, bytes) else None
        response = await http.request(method, f"{POLL}/{route}", content=content, json=json_body)
        assert response.status_code == status, response.text
        error = response.json()
        assert error["code"] and names in response.text


async def test_bad_fields_of_a_live_session_are_named(serve: Serve) -> None:
    gateway = serve(_config())
    async with _client(gateway) as http:
        token = await _register(http)
        cases = [
            ("messages", {"timeout": "soon"}, "timeout"),
            ("messages", {"max": 0}, "max"),
            ("messages", {"max": 1.5}, "max"),
            ("messages", {"cursor": "x"}, "cursor"),
            ("subscribe", {}, "channel"),
            ("subscribe", {"channel": "bad name!"}, "channel"),
            ("publish", {"data": 1}, "channel"),
            ("ack", {}, "event_id"),
            ("send", {"frames": "x"}, "frames"),
            ("publish", {"channel": "$dead-letter", "data": 1}, "reserved"),
        ]
        for route, fields, names in cases:
            response = await http.post(f"{POLL}/{route}", json={"poll_token": token, **fields})
            assert 400 <= response.status_code < 500, (route, response.text)
            assert names in response.text, (route, response.text)
        # The session survives its client's mistakes.
        ok = await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "fine"})
        assert ok.status_code == 200


async def test_every_route_checks_the_token_and_the_owner(serve: Serve) -> None:
    gateway = serve(_config())
    async with (
        _client(gateway) as alice,
        _client(gateway, BOB) as bob,
        _client(gateway, token=None) as nobody,
        _client(gateway, "wrong") as wrong,
    ):
        token = await _register(alice)
        for route in ("register", "messages", "subscribe", "publish", "ack", "heartbeat"):
            for http in (nobody, wrong):
                response = await http.post(f"{POLL}/{route}", json={"poll_token": token})
                assert response.status_code == 401, (route, response.text)
        assert (await nobody.get(f"{POLL}/presence")).status_code == 401
        stolen = await bob.post(f"{POLL}/messages", json={"poll_token": token, "timeout": 0})
        assert stolen.status_code == 403
        assert "another identity" in stolen.json()["message"]
        via_query = await nobody.post(
            f"{POLL}/messages",
            params={"token": ALICE},
            json={"poll_token": token, "timeout": 0},
        )
        assert via_query.status_code == 200


async def test_connection_limits_apply_to_poll_clients(serve: Serve) -> None:
    config = _config().model_copy(update={"limits": LimitsConfig(max_connections_per_user=2)})
    gateway = serve(config)
    async with _client(gateway) as http:
        await _register(http, "one")
        await _register(http, "two")
        refused = await http.post(f"{POLL}/register", json={"client_id": "three"})
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "limit_exceeded"


def test_poll_tokens_are_dropped_from_the_query_string_once_read() -> None:
    # A host app's uvicorn logs each request's path and query (access log).
    from praison_push.server.poll_sessions import redact_poll_token

    scope: dict[str, Any] = {"query_string": b"channel=a&poll_token=s3cret&x=1"}
    redact_poll_token(scope)
    assert scope["query_string"] == b"channel=a&x=1"


async def test_presence_by_poll_token_in_the_query(serve: Serve) -> None:
    gateway = serve(_config())
    async with _client(gateway) as http:
        token = await _register(http, "me")
        await http.post(f"{POLL}/subscribe", json={"poll_token": token, "channel": "p"})
        listed = await http.get(f"{POLL}/presence", params={"poll_token": token, "channel": "p"})
        assert listed.status_code == 200
        assert [e["client_id"] for e in listed.json()["presence"]] == ["me"]


async def test_a_frame_the_websocket_takes_fits_through_send(serve: Serve) -> None:
    gateway = serve(_config())
    limit = gateway.config.limits.max_message_size
    async with _client(gateway) as http:
        token = await _register(http)
        await _poll(http, token, timeout=0)
        filler = "x" * (limit - 200)
        frame = {"type": "channel.publish", "channel": "big", "data": filler, "ref": "big"}
        sent = await http.post(f"{POLL}/send", json={"poll_token": token, "frames": [frame]})
        assert sent.status_code == 200, sent.text
        batch = await _poll(http, token, timeout=5)
        (reply,) = [m for m in batch["messages"] if m.get("ref") == "big"]
        assert reply["type"] == "channel.published"
        # Over the frame limit: the hub answers with an error frame, as over a WebSocket.
        frame["data"], frame["ref"] = "x" * limit, "over"
        over = await http.post(f"{POLL}/send", json={"poll_token": token, "frames": [frame]})
        assert over.status_code == 200
        batch = await _poll(http, token, timeout=5, cursor=batch["cursor"])
        # (refused before it is parsed, so without its ref)
        (error,) = [m for m in batch["messages"] if m["type"] == "error"]
        assert error["code"] == "too_large" and "max_message_size" in str(error)
        # A body far over it is refused before it is read whole.
        huge = await http.post(
            f"{POLL}/send", json={"poll_token": token, "frames": [{"data": "x" * 2 * limit}]}
        )
        assert huge.status_code == 413 and "max_message_size" in huge.text


async def test_polling_can_be_turned_off(serve: Serve) -> None:
    gateway = serve(
        GatewayConfig(push=PushConfig(enabled=True, polling=PollingConfig(enabled=False)))
    )
    async with _client(gateway, token=None) as http:
        response = await http.post(f"{POLL}/register", json={})
        assert response.status_code == 404
        assert "PollingConfig.enabled=False" in response.json()["message"]
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    assert not hub.connections


async def test_a_poll_waits_at_most_long_poll_timeout(serve: Serve) -> None:
    gateway = serve(_config(long_poll_timeout=1))
    async with _client(gateway) as http:
        token = await _register(http)
        first = await _poll(http, token, timeout=0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        empty = await _poll(http, token, timeout=600, cursor=first["cursor"])
        waited = loop.time() - started
        assert empty["messages"] == []
        assert 0.9 <= waited < 1 + timeout(1)


async def test_every_post_route_refuses_bad_bodies_and_foreign_tokens(serve: Serve) -> None:
    gateway = serve(_config())
    routes = ["messages", "subscribe", "unsubscribe", "publish", "ack", "nack", "heartbeat"]
    routes += ["send", "close"]
    async with _client(gateway) as alice, _client(gateway, BOB) as bob:
        token = await _register(alice)
        for route in ["register", *routes]:
            url = f"{POLL}/{route}"
            huge = await alice.post(url, content=b"{" + b" " * (1024 * 1024) + b"}")
            assert huge.status_code == 413, (route, huge.text)
            bad = await alice.post(url, content=b'{"poll_token": ')
            assert bad.status_code == 400 and bad.json()["code"] == "bad_frame", route
            wrong_method = await alice.get(url)
            assert wrong_method.status_code == 405 and wrong_method.json()["code"], route
        for route in routes:
            url = f"{POLL}/{route}"
            stolen = await bob.post(url, json={"poll_token": token, "channel": "c"})
            assert stolen.status_code == 403, (route, stolen.text)
            missing = await alice.post(url, json={})
            assert missing.status_code == 400 and "poll_token" in missing.text, route
        # After all that, the session is still there and works.
        assert (await _poll(alice, token, timeout=0))["messages"][0]["type"] == "connected"
