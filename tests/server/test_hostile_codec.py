"""Issue 13, finding 5: a frame the gateway cannot encode again must never be stored.

``json.loads`` on bytes detects UTF-16 and UTF-32, so a binary frame holding
UTF-16 JSON with a ``\\ud800`` escape slipped past the lone-surrogate check (it
looked for the ASCII bytes ``\\u``). The stored publication then broke the
channel's live delivery, ``since`` recovery and ``channel.history`` — and on
Redis every frame was an ``internal error`` with a traceback. Binary frames are
UTF-8 only now; anything else is ``bad_frame``, on every path.
"""

from __future__ import annotations

import pytest
from redis_support import RedisServer
from support import ask, expect, http_client, next_frame, raw_client, works

from praison_push.config import GatewayConfig, PushConfig, RedisConfig

from .helpers import LogCapture, Serve, messages


def _surrogate_frames() -> list[bytes]:
    raw = '{"type":"channel.publish","channel":"news","data":"\\ud800","ref":"p"}'
    return [raw.encode(encoding) for encoding in ("utf-16", "utf-16-le", "utf-32", "utf-32-be")]


async def _attack_then_check(url: str) -> None:
    async with raw_client(url) as reader, raw_client(url) as writer:
        subscribed = await ask(reader, "channel.subscribe", channel="news")
        epoch = subscribed["epoch"]
        for frame in _surrogate_frames():
            await writer.send(frame)
            error = await expect(writer, "error", code="bad_frame")
            assert "UTF-8" in error["message"]
        # UTF-16 JSON with no surrogate at all is refused as well: one rule, UTF-8.
        plain = '{"type":"channel.publish","channel":"news","data":"fine"}'.encode("utf-16")
        await writer.send(plain)
        await expect(writer, "error", code="bad_frame")
        # The channel still works: live delivery, recovery and history.
        receipt = await ask(writer, "channel.publish", channel="news", data={"n": 1})
        assert receipt["type"] == "channel.published", receipt
        [live] = await messages(reader, 1)
        assert live["data"] == {"n": 1}
        await writer.send(b'{"type":"channel.publish","channel":"news","data":{"n":2}}')
        await expect(writer, "channel.published")
        [live2] = await messages(reader, 1)
        assert live2["data"] == {"n": 2}
        history = await ask(reader, "channel.history", channel="news", ref="h")
        assert [m["data"] for m in history["messages"]] == [{"n": 1}, {"n": 2}]
        async with raw_client(url) as late:
            since = {"offset": 0, "epoch": epoch}
            recovered = await ask(late, "channel.subscribe", channel="news", since=since)
            assert recovered["recovered"] is True
            replay = await messages(late, 2)
            assert [m["data"] for m in replay] == [{"n": 1}, {"n": 2}]
        await works(writer)


async def test_utf16_and_utf32_binary_frames_are_bad_frame_and_the_channel_keeps_working(
    serve: Serve, logs: LogCapture
) -> None:
    gateway = serve()
    await _attack_then_check(gateway.url)
    assert not logs.tracebacks()


@pytest.mark.redis
async def test_on_redis_a_utf16_frame_is_bad_frame_not_an_internal_error(
    serve: Serve, logs: LogCapture, redis_server: RedisServer, redis_prefix: str
) -> None:
    config = GatewayConfig(
        push=PushConfig(enabled=True, redis=RedisConfig(url=redis_server.url, prefix=redis_prefix))
    )
    gateway = serve(config)
    await _attack_then_check(gateway.url)
    assert "internal error" not in logs.text()


async def test_http_bodies_follow_the_same_rule(serve: Serve) -> None:
    gateway = serve()
    body = '{"input":"hi \\ud800"}'
    url = f"{gateway.http_url}/v1/agents/echo/execute/stream"
    async with http_client() as http:
        for content in (body.encode("utf-16"), body.encode("utf-32"), b'{"input":"\xff"}'):
            response = await http.post(url, content=content)
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "bad_frame"


async def test_an_agent_producing_lone_surrogates_cannot_poison_its_run_or_the_feed(
    serve: Serve, logs: LogCapture
) -> None:
    """Gateway-made publications pass the same rule: text an agent produced with a lone
    surrogate (``bytes.decode(..., "surrogateescape")``) is sent with U+FFFD instead."""
    gateway = serve()
    assert gateway.gateway is not None

    def broken(text: str) -> str:
        return b"caf\xe9 ".decode("utf-8", "surrogateescape") + text

    gateway.call(lambda: gateway.gateway.register_agent("broken", broken))  # type: ignore[union-attr]
    async with raw_client(gateway.url) as ws:
        accepted = await ask(ws, "execute", agent_id="broken", input="ok")
        assert accepted["type"] == "execute.accepted", accepted
        frames = []
        while not frames or frames[-1].get("data", {}).get("event") not in (
            "execution_complete",
            "execution_error",
        ):
            frame = await next_frame(ws)
            if frame["type"] == "channel_message":
                frames.append(frame)
        final = frames[-1]["data"]
        assert final["event"] == "execution_complete", final
        assert final["output"] == "caf\ufffd ok"
        history = await ask(ws, "channel.history", channel=accepted["channel"], ref="h")
        assert history["type"] == "channel.history" and history["messages"], history
        await works(ws)
    assert not logs.tracebacks()
