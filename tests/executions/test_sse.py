"""``POST /v1/agents/{agent_id}/execute/stream``: a run as Server-Sent Events."""

from __future__ import annotations

import asyncio

from support import http_client, timeout

from praison_push.config import AuthConfig, GatewayConfig
from praison_push.server import GatewayThread

from .helpers import (
    ANSWER,
    QUESTION,
    RUN_END,
    WEATHER_CALL,
    WEATHER_RESULT,
    Factory,
    SSEParser,
    hub_of,
    native,
    send,
    sse_run,
    until,
)


def stream_url(gateway: GatewayThread, agent_id: str) -> str:
    return f"{gateway.http_url}/v1/agents/{agent_id}/execute/stream"


async def test_a_run_streams_the_spec_events(gateway: GatewayThread) -> None:
    body = {"input": QUESTION, "session_id": "sess_xyz"}
    response, parser, events = await sse_run(gateway.http_url, "demo-weather", body)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert parser.retry == 3000

    kinds = [event.event for event in events]
    assert kinds == [
        "execution_start",
        "tool_call",
        "tool_result",
        *["token"] * len(ANSWER.split(" ")),
        "complete",
        "done",
    ]
    start = events[0].json()
    assert start["status"] == "running"
    assert start["agent_id"] == "demo-weather"
    assert start["execution_id"].startswith("exec_")
    assert events[1].json() == {"id": "tool_001", "status": "calling", **WEATHER_CALL}
    assert events[2].json() == {
        "id": "tool_001",
        "name": "get_weather",
        "status": "completed",
        "result": WEATHER_RESULT,
    }
    tokens = [event.json() for event in events if event.event == "token"]
    assert [token["index"] for token in tokens] == list(range(len(tokens)))
    assert "".join(token["token"] for token in tokens) == ANSWER
    complete = events[-2].json()
    assert complete["status"] == "completed"
    assert complete["output"] == ANSWER
    assert set(complete["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert complete["latency_ms"] >= 0
    assert events[-1].json() == {}
    assert events[-1].id is None
    ids = [event.id for event in events[:-1]]
    assert all(ids) and len(set(ids)) == len(ids)


async def test_unknown_agent_is_a_404_json_error(gateway: GatewayThread) -> None:
    async with http_client(timeout=timeout(5)) as http:
        response = await http.post(stream_url(gateway, "agt_missing"), json={"input": "hi"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    error = response.json()
    assert error["code"] == "unknown_agent"
    assert "agt_missing" in error["message"]


async def test_bad_bodies_are_400(gateway: GatewayThread) -> None:
    url = stream_url(gateway, "echo")
    bad = [
        {"content": b"{not json"},
        {"content": b"[1, 2]"},
        {"json": {}},
        {"json": {"input": 42}},
        {"json": {"input": "   "}},
        {"json": {"input": "hi", "session_id": 7}},
    ]
    async with http_client(timeout=timeout(5)) as http:
        for kwargs in bad:
            response = await http.post(url, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 400, (kwargs, response.text)
            assert response.json()["code"] in ("bad_frame", "invalid_field"), response.text
        too_big = await http.post(url, json={"input": "x" * 70_000})
        assert too_big.status_code == 413
        assert too_big.json()["code"] == "too_large"
    await _still_streams(gateway)


async def test_auth_is_required_when_the_gateway_has_tokens(gateway_factory: Factory) -> None:
    gateway = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=["s3cret"])))  # type: ignore[list-item]
    url = stream_url(gateway, "echo")
    async with http_client(timeout=timeout(5)) as http:
        refused = await http.post(url, json={"input": "hi"})
        wrong = await http.post(url, json={"input": "hi"}, headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthorized"
    assert wrong.status_code == 401

    bearer = {"Authorization": "Bearer s3cret"}
    response, _, events = await sse_run(gateway.http_url, "echo", {"input": "hi"}, headers=bearer)
    assert response.status_code == 200
    assert [event.event for event in events] == ["execution_start", "token", "complete", "done"]


async def test_a_client_that_goes_away_does_not_stop_the_run(gateway: GatewayThread) -> None:
    parser = SSEParser()
    async with (
        http_client(timeout=timeout(5)) as http,
        # Half a second of tokens: still running long after the response is closed.
        http.stream("POST", stream_url(gateway, "demo-long"), json={"input": "300@600"}) as stream,
    ):
        chunks = stream.aiter_text()
        events = []
        while not any(event.event == "token" for event in events):
            events.extend(parser.feed(await asyncio.wait_for(anext(chunks), timeout(3))))
        execution_id = events[0].json()["execution_id"]
    # The response is closed mid-run: the gateway drops its SSE session, not the run.
    hub = hub_of(gateway)
    async with native(gateway.url) as watcher:
        channel = f"executions:{execution_id}"
        await send(watcher, {"type": "channel.subscribe", "channel": channel})
        frames = await until(watcher, RUN_END, seconds=5)
        # The stream's own session is gone; only the watcher is left.
        dialects = gateway.call(lambda: [s.dialect for s in hub.connections.values()])
        assert dialects == ["praison"]
    end = frames[-1]["data"]
    assert end["event"] == "execution_complete", end
    assert end["output"] == "".join(f"t{index} " for index in range(300))
    assert hub.runs.get(execution_id).status == "completed"


async def _still_streams(gateway: GatewayThread) -> None:
    _, _, events = await sse_run(gateway.http_url, "echo", {"input": "still here"})
    assert events[-2].json()["output"] == "still here"


# --- the test's own SSE parser ---------------------------------------------------------


def test_parser_handles_split_lines_comments_and_multiline_data() -> None:
    parser = SSEParser()
    stream = (
        "retry: 3000\r\n\r\n"
        ": keepalive\n\n"
        'event: token\nid: 7\ndata: {"a":\n'
        "data: 1}\n\n"
        "data:plain\r\rid\nevent: x\ndata: \0\nretry: soon\n\n"
    )
    events = []
    for index in range(0, len(stream), 3):  # every split point a chunk boundary may hit
        events.extend(parser.feed(stream[index : index + 3]))
    assert parser.retry == 3000
    assert parser.comments == ["keepalive"]
    assert [(event.event, event.id) for event in events] == [
        ("token", "7"),
        ("message", None),
        ("x", ""),
    ]
    assert events[0].json() == {"a": 1}
    assert events[1].data == "plain"
    assert events[2].data == "\0"
