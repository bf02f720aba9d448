"""The native dialect over a live socket: greeting, pub/sub, bad input, /health."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from support import ask, closed_with, dial, expect, http_client, raw_client, timeout, works
from websockets.exceptions import InvalidStatus

from praison_push.config import LimitsConfig
from praison_push.protocol import CloseCode, should_reconnect

from .helpers import Serve, messages


async def test_greeting_and_client_id(serve: Serve) -> None:
    gateway = serve()
    async with dial(gateway.url + "?client_id=alice") as ws:
        greeting = await expect(ws, "connected", client_id="alice", protocol="praison-push/1")
        assert greeting["server_id"] == gateway.gateway.hub.server_id  # type: ignore[union-attr]
        assert greeting["heartbeat_interval"] == 15
        assert greeting["resumed"] is False
        await works(ws)


async def test_publish_and_subscribe_between_two_clients(serve: Serve) -> None:
    gateway = serve()
    async with (
        raw_client(gateway.url + "?client_id=alice") as alice,
        raw_client(gateway.url + "?client_id=bob") as bob,
    ):
        subscribed = await ask(bob, "channel.subscribe", channel="news", ref=1)
        assert (subscribed["type"], subscribed["ref"], subscribed["offset"]) == (
            "channel.subscribed",
            1,
            0,
        )
        receipt = await ask(alice, "channel.publish", channel="news", data={"n": 1}, ref="p")
        assert (receipt["type"], receipt["delivered"], receipt["ref"]) == (
            "channel.published",
            1,
            "p",
        )
        message = await expect(
            bob, "channel_message", channel="news", data={"n": 1}, source="alice"
        )
        assert message["event_id"] == receipt["event_id"]
        assert message["offset"] == 1


async def test_binary_frames_are_read_as_text(serve: Serve) -> None:
    gateway = serve()
    async with raw_client(gateway.url) as ws:
        await ws.send(b'{"type":"ping","ref":"bin"}')
        await expect(ws, "pong", ref="bin")


BAD_INPUT: list[tuple[str, str, dict[str, Any]]] = [
    ("not json at all", "bad_frame", {}),
    ('[{"type":"ping"}]', "bad_frame", {}),
    ('{"type":"channel.explode","ref":"r"}', "unknown_type", {"ref": "r"}),
    ('{"type":"channel.subscribe","ref":"r"}', "invalid_field", {"ref": "r"}),
    ('{"type":"channel.publish","channel":"c","id":5}', "invalid_field", {}),
    ('{"type":"channel.subscribe","channel":"has spaces"}', "invalid_field", {}),
    (json.dumps({"type": "channel.subscribe", "channel": "x" * 500}), "invalid_field", {}),
    ('{"type":"channel.publish","channel":"c","data":NaN}', "bad_frame", {}),
    ('{"type":"channel.publish","channel":"c","data":"\\ud800"}', "bad_frame", {}),
    (
        '{"type":"channel.publish","channel":"c","data":' + "[" * 200 + "]" * 200 + "}",
        "bad_frame",
        {},
    ),
    ('{"type":"channel.publish","channel":"$dead-letter","data":1}', "forbidden", {}),
]
FIELDS = {
    '{"type":"channel.subscribe","ref":"r"}': "channel",
    '{"type":"channel.publish","channel":"c","id":5}': "id",
    '{"type":"channel.subscribe","channel":"has spaces"}': "channel",
    json.dumps({"type": "channel.subscribe", "channel": "x" * 500}): "channel",
}


async def test_bad_input_gets_error_frames_and_everyone_keeps_working(serve: Serve) -> None:
    gateway = serve()
    async with (
        raw_client(gateway.url) as bad,
        raw_client(gateway.url) as bystander,
        raw_client(gateway.url) as publisher,
    ):
        await ask(bystander, "channel.subscribe", channel="c")
        for n, (text, code, extra) in enumerate(BAD_INPUT):
            await bad.send(text)
            error = await expect(bad, "error", code=code, **extra)
            assert error["message"]
            if text in FIELDS:
                assert error["details"]["field"] == FIELDS[text]
            # The same connection keeps working, and so does everyone else.
            await works(bad)
            receipt = await ask(publisher, "channel.publish", channel="c", data=n)
            assert receipt["delivered"] == 1
            await expect(bystander, "channel_message", data=n)
        # The poison publications never reached history.
        history = await ask(bystander, "channel.history", channel="c")
        assert [m["data"] for m in history["messages"]] == list(range(len(BAD_INPUT)))


async def test_a_frame_over_the_limit_closes_1009_and_others_carry_on(serve: Serve) -> None:
    gateway = serve()
    async with (
        raw_client(gateway.url) as big,
        raw_client(gateway.url) as other,
        raw_client(gateway.url) as publisher,
    ):
        await ask(other, "channel.subscribe", channel="c")
        await big.send("x" * (1 << 20))
        assert await closed_with(big) == CloseCode.MESSAGE_TOO_BIG
        assert not should_reconnect(CloseCode.MESSAGE_TOO_BIG)
        await works(other)
        assert (await ask(publisher, "channel.publish", channel="c", data=1))["delivered"] == 1
        await expect(other, "channel_message", data=1)


async def test_max_message_size_is_configurable(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(max_message_size=1024))
    async with raw_client(gateway.url) as ws:
        await ws.send(json.dumps({"type": "channel.publish", "channel": "c", "data": "x" * 900}))
        await expect(ws, "channel.published")
        await ws.send(json.dumps({"type": "channel.publish", "channel": "c", "data": "x" * 1100}))
        assert await closed_with(ws) == CloseCode.MESSAGE_TOO_BIG


async def test_health(serve: Serve) -> None:
    gateway = serve()
    async with raw_client(gateway.url) as ws, http_client(timeout=timeout(5)) as http:
        await ask(ws, "channel.subscribe", channel="a")
        await ask(ws, "channel.create", channel="b")
        response = await http.get(gateway.http_url + "/health")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "status": "ok",
            "connections": 1,
            "channels": 2,
            "backend": "memory",
        }


async def test_disconnect_is_noticed(serve: Serve) -> None:
    gateway = serve()
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    async with raw_client(gateway.url + "?client_id=watcher") as watcher:
        await ask(watcher, "channel.subscribe", channel="room")
        async with raw_client(gateway.url + "?client_id=leaver") as leaver:
            await ask(leaver, "channel.subscribe", channel="room")
            await expect(watcher, "presence_join", channel="room")
        leave = await expect(watcher, "presence_leave", channel="room")
        assert leave["data"]["client_id"] == "leaver"
        assert len(hub.connections) == 1


async def test_an_abrupt_drop_is_cleaned_up(serve: Serve) -> None:
    gateway = serve()
    async with raw_client(gateway.url + "?client_id=watcher") as watcher:
        await ask(watcher, "channel.subscribe", channel="room")
        dropper = await dial(gateway.url + "?client_id=dropper")
        await expect(dropper, "connected")
        await ask(dropper, "channel.subscribe", channel="room")
        await expect(watcher, "presence_join")
        dropper.transport.abort()  # no close frame: a network failure
        await expect(watcher, "presence_leave")
        await works(watcher)


@pytest.mark.parametrize("frames", [0, 3])
async def test_many_clients_at_once(serve: Serve, frames: int) -> None:
    gateway = serve()
    async with raw_client(gateway.url) as publisher:
        subscribers = [await dial(gateway.url).__aenter__() for _ in range(20)]
        try:
            for ws in subscribers:
                await expect(ws, "connected")
                await ask(ws, "channel.subscribe", channel="fan")
            for n in range(frames):
                receipt = await ask(publisher, "channel.publish", channel="fan", data=n)
                assert receipt["delivered"] == 20
            for ws in subscribers:
                assert [m["data"] for m in await messages(ws, frames)] == list(range(frames))
        finally:
            await asyncio.gather(*(ws.close() for ws in subscribers))


async def test_an_unknown_protocol_is_refused_with_403(serve: Serve) -> None:
    gateway = serve()
    with pytest.raises(InvalidStatus) as info:
        async with dial(gateway.url + "?protocol=smoke-signals"):
            pass
    assert info.value.response.status_code == 403
    async with raw_client(gateway.url) as ws:
        await works(ws)
