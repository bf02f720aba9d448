"""The envelope dialect, frame by frame from the agent platform spec's examples
(PROTOCOL.md §5), and its organisation scoping."""

from __future__ import annotations

import re
from datetime import datetime

from support import closed_with, dial

from praison_push.agents.demo import echo
from praison_push.protocol import CloseCode
from praison_push.server import GatewayThread

from .helpers import (
    ANSWER,
    ORG_A,
    ORG_B,
    QUESTION,
    TOKEN_A,
    TOKEN_A2,
    TOKEN_B,
    USER_A,
    WEATHER_CALL,
    WEATHER_RESULT,
    envelope,
    execute,
    native,
    of_type,
    recv,
    register,
    send,
    until,
)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_envelope(frame: dict[str, object]) -> None:
    """The spec's message format: ``type``, ``id``, ISO ``timestamp``, ``payload``."""
    assert set(frame) == {"type", "id", "timestamp", "payload"}, frame
    assert isinstance(frame["id"], str) and frame["id"]
    assert isinstance(frame["timestamp"], str) and ISO.match(frame["timestamp"]), frame
    datetime.fromisoformat(frame["timestamp"].replace("Z", "+00:00"))
    assert isinstance(frame["payload"], dict)


async def test_auth_success_names_user_org_and_connection(orgs: GatewayThread) -> None:
    async with dial(orgs.url) as ws:  # no ?protocol=: the auth frame picks the dialect
        await send(ws, {"type": "auth", "payload": {"token": TOKEN_A}})
        reply = await recv(ws)
    assert reply["type"] == "auth_success"
    payload = reply["payload"]
    assert set(payload) == {"user_id", "org_id", "connection_id"}
    assert payload["user_id"] == USER_A
    assert payload["org_id"] == ORG_A
    assert isinstance(payload["connection_id"], str) and payload["connection_id"]


async def test_bad_token_gets_auth_error_and_4001(orgs: GatewayThread) -> None:
    async with dial(orgs.url + "?protocol=envelope") as ws:
        await send(ws, {"type": "auth", "payload": {"token": "expired"}})
        reply = await recv(ws)
        code = await closed_with(ws)
    assert reply["type"] == "auth_error"
    assert reply["payload"]["code"] == "INVALID_TOKEN"
    assert isinstance(reply["payload"]["message"], str) and reply["payload"]["message"]
    assert code == CloseCode.AUTH_FAILED == 4001


async def test_no_auth_within_the_timeout_closes_4001(orgs: GatewayThread) -> None:
    # orgs has auth_timeout=0.2 s: say nothing and wait for the close.
    async with dial(orgs.url + "?protocol=envelope") as ws:
        code = await closed_with(ws)
    assert code == 4001


async def test_first_frame_other_than_auth_closes_4001(orgs: GatewayThread) -> None:
    async with dial(orgs.url + "?protocol=envelope") as ws:
        await send(ws, {"type": "subscribe", "id": "sub_1", "payload": {"channel": "billing"}})
        frames = await until(ws, of_type("auth_error"))
        code = await closed_with(ws)
    assert frames[-1]["payload"]["code"] == "INVALID_TOKEN"
    assert code == 4001


async def test_subscribe_ping_unsubscribe(gateway: GatewayThread) -> None:
    async with envelope(gateway.url) as ws:
        await send(
            ws,
            {
                "type": "subscribe",
                "id": "sub_123",
                "payload": {"channel": "executions", "filters": {"agent_id": "demo-weather"}},
            },
        )
        subscribed = await recv(ws)
        assert subscribed["type"] == "subscribed"
        assert subscribed["id"] == "sub_123"
        assert subscribed["payload"]["channel"] == "executions"
        assert subscribed["payload"]["ok"] is True
        assert subscribed["payload"]["filters"] == {"agent_id": "demo-weather"}

        await send(ws, {"type": "ping", "id": "ping_001"})
        assert await recv(ws) == {"type": "pong", "id": "ping_001"}

        await send(
            ws,
            {
                "type": "unsubscribe",
                "id": "unsub_456",
                "payload": {"channel": "executions", "subscription_id": "sub_123"},
            },
        )
        unsubscribed = await recv(ws)
        assert unsubscribed["type"] == "unsubscribed"
        assert unsubscribed["id"] == "unsub_456"
        assert unsubscribed["payload"] == {"channel": "executions", "ok": True}


async def test_the_spec_example_subscription_is_answered_subscribed(
    gateway: GatewayThread,
) -> None:
    """Issue 9, fix 2: a filter naming an agent the gateway does not have (yet) is a
    filter, not an error; the agent's runs reach the subscriber once it exists."""
    example = {
        "type": "subscribe",
        "id": "sub_123",
        "payload": {"channel": "executions", "filters": {"agent_id": "agt_abc123"}},
    }
    async with envelope(gateway.url) as ws, envelope(gateway.url) as asker:
        await send(ws, example)
        subscribed = await recv(ws)
        assert_envelope(subscribed)
        assert (subscribed["type"], subscribed["id"]) == ("subscribed", "sub_123")
        assert subscribed["payload"]["filters"] == {"agent_id": "agt_abc123"}

        register(gateway, "agt_abc123", echo)
        await send(
            asker,
            {"type": "execute", "id": "x1", "payload": {"agent_id": "agt_abc123", "input": "hi"}},
        )
        frames = await until(ws, of_type("execution_complete", "error"))
    assert frames[0]["type"] == "execution_start"
    assert frames[-1]["payload"]["output"] == "hi"


async def test_execute_streams_the_spec_events(gateway: GatewayThread) -> None:
    async with envelope(gateway.url) as ws:
        request = {
            "type": "execute",
            "id": "exec_req_001",
            "payload": {
                "agent_id": "demo-weather",
                "input": QUESTION,
                "session_id": "sess_xyz789",
                "stream": True,
            },
        }
        await send(ws, request)
        frames = await until(ws, of_type("execution_complete", "execution_error"))

    for frame in frames:
        assert_envelope(frame)
    kinds = [frame["type"] for frame in frames]
    assert kinds[0] == "execution_start"
    assert kinds[-1] == "execution_complete"
    assert set(kinds) == {
        "execution_start",
        "execution_tool",
        "execution_token",
        "execution_complete",
    }
    start = frames[0]["payload"]
    execution_id = start["execution_id"]
    assert execution_id.startswith("exec_")
    assert start["agent_id"] == "demo-weather"
    assert start["status"] == "running"
    assert len({frame["id"] for frame in frames}) == len(frames)  # event ids are unique
    assert all(frame["payload"]["execution_id"] == execution_id for frame in frames)

    tools = [frame["payload"]["tool_call"] for frame in frames if frame["type"] == "execution_tool"]
    assert tools == [
        {"id": "tool_001", "status": "calling", **WEATHER_CALL},
        {"id": "tool_001", "name": "get_weather", "status": "completed", "result": WEATHER_RESULT},
    ]

    tokens = [frame["payload"] for frame in frames if frame["type"] == "execution_token"]
    assert [token["index"] for token in tokens] == list(range(len(tokens)))
    assert set(tokens[0]) == {"execution_id", "agent_id", "session_id", "token", "index"}
    assert tokens[0]["session_id"] == "sess_xyz789"  # the run is a turn of that conversation
    assert "".join(token["token"] for token in tokens) == ANSWER

    complete = frames[-1]["payload"]
    assert complete["status"] == "completed"
    assert complete["output"] == ANSWER
    usage = complete["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert isinstance(complete["latency_ms"], int) and complete["latency_ms"] >= 0

    stamps = [frame["timestamp"] for frame in frames]
    assert stamps == sorted(stamps)


async def test_execute_an_unknown_agent_answers_error_with_the_request_id(
    gateway: GatewayThread,
) -> None:
    async with envelope(gateway.url) as ws:
        payload = {"agent_id": "agt_abc123", "input": QUESTION}
        await send(ws, {"type": "execute", "id": "exec_req_002", "payload": payload})
        error = await recv(ws)
        await send(ws, {"type": "ping", "id": "ping_002"})
        assert await recv(ws) == {"type": "pong", "id": "ping_002"}
    assert error["type"] == "error"
    assert error["id"] == "exec_req_002"
    assert error["payload"]["code"] == "unknown_agent"
    assert "agt_abc123" in error["payload"]["message"]


async def test_channel_publications_arrive_as_channel_message(gateway: GatewayThread) -> None:
    async with envelope(gateway.url) as ws, native(gateway.url) as publisher:
        await send(ws, {"type": "subscribe", "id": "s1", "payload": {"channel": "alerts"}})
        assert (await recv(ws))["type"] == "subscribed"
        await send(publisher, {"type": "channel.publish", "channel": "alerts", "data": {"x": 1}})
        message = await recv(ws)
    assert_envelope(message)
    assert message["type"] == "channel_message"
    assert message["payload"] == {"channel": "alerts", "data": {"x": 1}, "offset": 1}


# --- organisation scoping (PROTOCOL.md §5) -------------------------------------------


async def test_an_orgs_runs_reach_its_feed_and_never_another_orgs(orgs: GatewayThread) -> None:
    subscribe = {"type": "subscribe", "id": "feed", "payload": {"channel": "executions"}}
    async with (
        envelope(orgs.url, TOKEN_A) as runner,
        envelope(orgs.url, TOKEN_A2) as colleague,
        envelope(orgs.url, TOKEN_B) as outsider,
    ):
        for ws in (colleague, outsider):
            await send(ws, subscribe)
            reply = await recv(ws)
            assert reply["type"] == "subscribed", reply
            assert reply["payload"]["channel"] == "executions"  # the scope never shows
        execute_frame = {"agent_id": "demo-weather", "input": QUESTION}
        await send(runner, {"type": "execute", "id": "r1", "payload": execute_frame})
        own = await until(runner, of_type("execution_complete", "execution_error"))
        seen = await until(colleague, of_type("execution_complete", "execution_error"))

        # Same run, same events (own publications, so own ids), on the colleague's org feed.
        assert [(f["type"], f["payload"]) for f in seen] == [(f["type"], f["payload"]) for f in own]
        assert seen[-1]["payload"]["output"] == ANSWER
        assert seen[0]["payload"]["user_id"] == USER_A

        # Everything for the outsider would be queued before this pong.
        await send(outsider, {"type": "ping", "id": "probe"})
        assert await recv(outsider) == {"type": "pong", "id": "probe"}


async def test_another_orgs_scoped_channel_is_forbidden(orgs: GatewayThread) -> None:
    async with native(orgs.url + f"?token={TOKEN_B}") as ws:
        for name in (f"executions#{ORG_A}", f"notifications#{ORG_A}"):
            await send(ws, {"type": "channel.subscribe", "channel": name, "ref": 1})
            error = await recv(ws)
            assert error["type"] == "error", error
            assert error["code"] == "forbidden"
            assert error["details"]["field"] == "channel"
        # Its own scope, named explicitly, is fine.
        await send(ws, {"type": "channel.subscribe", "channel": f"executions#{ORG_B}"})
        assert (await recv(ws))["type"] == "channel.subscribed"


async def test_another_orgs_run_channel_is_forbidden(orgs: GatewayThread) -> None:
    async with (
        native(orgs.url + f"?token={TOKEN_A}") as owner,
        native(orgs.url + f"?token={TOKEN_B}") as outsider,
        native(orgs.url + f"?token={TOKEN_A2}") as colleague,
    ):
        execution_id = await execute(owner, "demo-long", "50@500")
        channel = f"executions:{execution_id}"
        # Naming the run routes the outsider to its own org's (empty) run channel…
        await send(outsider, {"type": "channel.history", "channel": channel})
        history = await recv(outsider)
        assert history["type"] == "channel.history" and history["messages"] == []
        # …and naming the owner's scope outright is forbidden.
        for request in ("channel.subscribe", "channel.history"):
            await send(outsider, {"type": request, "channel": f"{channel}#{ORG_A}"})
            error = await recv(outsider)
            assert error["type"] == "error", error
            assert error["code"] == "forbidden"
        await send(outsider, {"type": "execution.cancel", "execution_id": execution_id})
        assert (await recv(outsider))["ok"] is False  # nor may it cancel the run

        await send(colleague, {"type": "channel.subscribe", "channel": channel})
        assert (await recv(colleague))["type"] == "channel.subscribed"
