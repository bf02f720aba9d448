"""The agent-UI endpoints on a real gateway: AG-UI and the AI SDK UI message stream.

Raw HTTP over loopback: the mapping on demo-weather (every AG-UI event validated
by the ag-ui-protocol models), resume after a cut with no gap or duplicate,
a disconnect that does not cancel, cancel by the requester only, approvals
as interrupts, and bad requests answered with 4xx JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ag_ui.core import Event
from pydantic import TypeAdapter
from support import http_client, timeout

from praison_push.agents import AgentContext, AgentEvent, ToolCall, ToolResult
from praison_push.config import (
    AuthConfig,
    GatewayConfig,
    HistoryConfig,
    LimitsConfig,
    PushConfig,
    RedisConfig,
    TokenGrant,
)
from praison_push.server import GatewayThread

from .helpers import (
    ANSWER,
    QUESTION,
    TOKEN_A,
    TOKEN_B,
    WEATHER_CALL,
    WEATHER_RESULT,
    Factory,
    hub_of,
    register,
)
from .ui_helpers import PROTOCOLS, Read, body_for, read_stream

AG_UI_EVENTS = TypeAdapter(Event)
#: A run slow enough to cut, reopen and cancel while it streams (tokens @ tokens/s):
#: 0.2 s, where a cut and a reopen take milliseconds.
SLOW = "60@300"
FOREVER = "5000@100"


def post_url(gateway: GatewayThread, protocol: str, agent: str = "demo-weather") -> str:
    return f"{gateway.http_url}/v1/agents/{agent}/{protocol}"


def text_of(protocol: str, read: Read) -> str:
    kind = "TEXT_MESSAGE_CONTENT" if protocol == "ag-ui" else "text-delta"
    return "".join(p["delta"] for p in read.payloads if p["type"] == kind)


async def test_ag_ui_streams_demo_weather_as_valid_ag_ui_events(gateway: GatewayThread) -> None:
    read = await read_stream(post_url(gateway, "ag-ui"), body=body_for("ag-ui", QUESTION))
    assert read.response.status_code == 200
    assert read.response.headers["content-type"].startswith("text/event-stream")
    for payload in read.payloads:
        AG_UI_EVENTS.validate_python(payload)  # every event is a valid AG-UI event
    types = read.types
    assert types[:5] == [
        "RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"
    ]  # fmt: skip
    assert types[5] == "TEXT_MESSAGE_START" and types[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    started, args, result, finished = (read.payloads[i] for i in (0, 2, 4, -1))
    assert started == {"type": "RUN_STARTED", "threadId": "thread-1", "runId": read.run_id}
    assert json.loads(args["delta"]) == WEATHER_CALL["arguments"]
    assert json.loads(result["content"]) == WEATHER_RESULT
    assert text_of("ag-ui", read) == ANSWER
    assert finished["result"] == ANSWER and finished["outcome"] == {"type": "success"}
    ids = [event.id for event in read.events]
    assert all(i and i.startswith(read.run_id + ":") for i in ids) and len(set(ids)) == len(ids)


async def test_ai_sdk_streams_demo_weather_as_ui_message_parts(gateway: GatewayThread) -> None:
    read = await read_stream(post_url(gateway, "ai-sdk"), body=body_for("ai-sdk", QUESTION))
    assert read.response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert read.done  # data: [DONE]
    assert read.types[:6] == [
        "start", "start-step", "tool-input-start", "tool-input-available",
        "tool-output-available", "text-start",
    ]  # fmt: skip
    assert read.types[-3:] == ["text-end", "finish-step", "finish"]
    assert read.payloads[3]["input"] == WEATHER_CALL["arguments"]
    assert read.payloads[4]["output"] == WEATHER_RESULT
    assert text_of("ai-sdk", read) == ANSWER


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("how", ["last-event-id", "after"])
async def test_a_cut_stream_reopened_after_its_last_id_gets_the_rest_exactly_once(
    gateway: GatewayThread, protocol: str, how: str
) -> None:
    first = await read_stream(
        post_url(gateway, protocol, "demo-long"), body=body_for(protocol, SLOW), stop_after=10
    )
    assert len(first.events) == 10
    last = first.events[-1].id
    assert last is not None
    stream = f"{post_url(gateway, protocol, 'demo-long')}/runs/{first.run_id}/stream"
    if how == "after":
        rest = await read_stream(f"{stream}?after={last}", method="GET")
    else:  # the POST again, as an EventSource-style client reconnects
        rest = await read_stream(
            post_url(gateway, protocol, "demo-long"),
            body=body_for(protocol, SLOW),
            headers={"Last-Event-ID": last},
        )
    whole = await read_stream(stream, method="GET")  # the run from its start, replayed
    assert [e.id for e in first.events + rest.events] == [e.id for e in whole.events]
    assert first.payloads + rest.payloads == whole.payloads
    assert text_of(protocol, whole) == "".join(f"t{i} " for i in range(60))
    assert whole.types[-1] == ("RUN_FINISHED" if protocol == "ag-ui" else "finish")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_client_that_goes_away_does_not_cancel_the_run(
    gateway: GatewayThread, protocol: str
) -> None:
    cut = await read_stream(
        post_url(gateway, protocol, "demo-long"), body=body_for(protocol, SLOW), stop_after=3
    )
    run = hub_of(gateway).runs.get(cut.run_id)
    assert run is not None
    stream = f"{post_url(gateway, protocol, 'demo-long')}/runs/{cut.run_id}/stream"
    rest = await read_stream(
        stream, method="GET", headers={"Last-Event-ID": cut.events[-1].id or ""}
    )
    assert run.status == "completed"
    assert rest.types[-1] == ("RUN_FINISHED" if protocol == "ag-ui" else "finish")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_cancel_stops_the_run_with_a_cancelled_reason(
    gateway: GatewayThread, protocol: str
) -> None:
    url = post_url(gateway, protocol, "demo-long")
    async with http_client(timeout=timeout(10)) as http:
        async with http.stream("POST", url, json=body_for(protocol, FOREVER)) as response:
            run_id, client_id = response.headers["x-run-id"], response.headers["x-client-id"]
            lines = response.aiter_lines()
            async for line in lines:  # until the run streams text
                if "TEXT_MESSAGE_CONTENT" in line or "text-delta" in line:
                    break
            stranger = await http.post(f"{gateway.http_url}/v1/runs/{run_id}/cancel")
            assert stranger.status_code == 403  # anonymous: the stream's client id is needed
            cancel = f"{gateway.http_url}/v1/runs/{run_id}/cancel?client_id={client_id}"
            answer = await http.post(cancel)
            assert answer.status_code == 202 and answer.json()["cancelled"] is True
            tail = [line async for line in lines]
        again = await http.post(cancel)
        assert again.status_code == 409 and again.json()["status"] == "cancelled"
    last = json.loads(next(line for line in reversed(tail) if line.startswith("data: {"))[6:])
    if protocol == "ag-ui":
        assert last == {"type": "RUN_ERROR", "message": "cancelled", "code": "CANCELLED"}
    else:
        assert last == {"type": "error", "errorText": "CANCELLED: cancelled"}
        assert tail[-2:] == ["data: [DONE]", ""]


# --- approvals --------------------------------------------------------------------------


async def guarded(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
    """Asks before it deletes; says what happened."""
    call = ToolCall("delete_file", {"path": text}, id="call_del")
    decision = await ctx.request_approval(call)
    if not decision.approved:
        yield f"I did not delete {text}."
        return
    yield call
    yield ToolResult(call, {"deleted": text})
    yield f"Deleted {text}."


async def test_ag_ui_approval_is_an_interrupt_resumed_through_resume(
    gateway: GatewayThread,
) -> None:
    register(gateway, "guarded", guarded)
    # Anonymous callers share one identity: their client id tells their runs apart.
    url = post_url(gateway, "ag-ui", "guarded") + "?client_id=tab-1"
    paused = await read_stream(url, body=body_for("ag-ui", "/tmp/x"))
    for payload in paused.payloads:
        AG_UI_EVENTS.validate_python(payload)
    assert paused.types == [
        "RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "RUN_FINISHED"
    ]  # fmt: skip
    (interrupt,) = paused.payloads[-1]["outcome"]["interrupts"]
    assert interrupt["toolCallId"] == "call_del" and interrupt["reason"] == "tool_approval"
    body = body_for("ag-ui", "/tmp/x") | {
        "resume": [
            {"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": True}}
        ]
    }
    resumed = await read_stream(url, body=body)
    assert resumed.response.status_code == 200, resumed.response.text
    for payload in resumed.payloads:
        AG_UI_EVENTS.validate_python(payload)
    assert resumed.types[:2] == ["RUN_STARTED", "TOOL_CALL_RESULT"]
    assert json.loads(resumed.payloads[1]["content"]) == {"deleted": "/tmp/x"}
    assert text_of("ag-ui", resumed) == "Deleted /tmp/x."
    assert resumed.types[-1] == "RUN_FINISHED"
    assert resumed.run_id == paused.run_id  # the same run, continued


async def test_ai_sdk_approval_is_answered_by_an_approval_response(gateway: GatewayThread) -> None:
    register(gateway, "guarded", guarded)
    url = post_url(gateway, "ai-sdk", "guarded") + "?client_id=tab-2"
    paused = await read_stream(url, body=body_for("ai-sdk", "/tmp/y"))
    assert paused.types[-3:] == ["tool-approval-request", "finish-step", "finish"] and paused.done
    request = paused.payloads[-3]
    assistant = {
        "id": paused.run_id,
        "role": "assistant",
        "parts": [
            {
                "type": "tool-delete_file",
                "toolCallId": "call_del",
                "state": "approval-responded",
                "input": {"path": "/tmp/y"},
                "approval": {"id": request["approvalId"], "approved": False, "reason": "no"},
            }
        ],
    }
    body = body_for("ai-sdk", "/tmp/y")
    body["messages"].append(assistant)
    resumed = await read_stream(url, body=body)
    assert resumed.response.status_code == 200, resumed.response.text
    assert resumed.types[:3] == ["start", "start-step", "tool-output-denied"]
    assert text_of("ai-sdk", resumed) == "I did not delete /tmp/y."
    assert resumed.types[-1] == "finish" and resumed.done


# --- refusals ---------------------------------------------------------------------------


@pytest.fixture
def authed(gateway_factory: Factory) -> GatewayThread:
    grants = [
        TokenGrant(token=TOKEN_A, user_id="usr_a", org_id="org_a"),
        TokenGrant(token=TOKEN_B, user_id="usr_b", org_id="org_a"),
    ]
    gateway = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=grants)))  # type: ignore[arg-type]
    return gateway


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_bad_requests_are_4xx_json_never_500(
    authed: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    base = authed.http_url
    ag_ui, ai_sdk = post_url(authed, "ag-ui"), post_url(authed, "ai-sdk")
    own = await read_stream(ag_ui, body=body_for("ag-ui", QUESTION), headers=bearer(TOKEN_A))
    assert own.types[-1] == "RUN_FINISHED"
    async with http_client(timeout=timeout(5)) as http:
        a, b = bearer(TOKEN_A), bearer(TOKEN_B)
        nope_ag, nope_ai = post_url(authed, "ag-ui", "nope"), post_url(authed, "ai-sdk", "nope")
        theirs = f"{ag_ui}/runs/{own.run_id}/stream"
        reopen = b | {"Last-Event-ID": own.events[0].id or ""}
        cases: list[tuple[str, str, Any, dict[str, str], int, str | None]] = [
            ("POST", ag_ui, body_for("ag-ui", QUESTION), {}, 401, None),
            ("POST", ag_ui, {"messages": []}, a, 400, "threadId"),
            ("POST", ag_ui, body_for("ag-ui", "q") | {"messages": "x"}, a, 400, "messages"),
            ("POST", ag_ui, body_for("ag-ui", ""), a, 400, "messages"),
            ("POST", nope_ag, body_for("ag-ui", "q"), a, 404, "agent_id"),
            ("POST", ai_sdk, {"id": "c"}, a, 400, "messages"),
            ("POST", ai_sdk, {"id": 5, "messages": []}, a, 400, "id"),
            ("POST", nope_ai, body_for("ai-sdk", "q"), a, 404, "agent_id"),
            ("POST", ag_ui, body_for("ag-ui", "x" * 70_000), a, 413, None),
            # Another user's run: not theirs to watch, reopen, resume or cancel.
            ("GET", theirs, None, b, 404, "run_id"),
            ("POST", ag_ui, None, reopen, 404, "run_id"),
            ("POST", f"{base}/v1/runs/{own.run_id}/cancel", None, b, 404, "run_id"),
            ("GET", f"{theirs}?after=garbage", None, a, 400, "after"),
            ("GET", theirs, None, {"Last-Event-ID": "x:1:1"} | a, 400, "Last-Event-ID"),
            ("POST", f"{base}/v1/runs/exec_unknown/cancel", None, a, 404, "run_id"),
        ]
        for method, url, body, headers, status, field in cases:
            content = None if body is None else json.dumps(body)
            answer = await http.request(method, url, content=content, headers=headers)
            assert answer.status_code == status, (method, url, answer.text)
            error = answer.json()
            assert isinstance(error["message"], str) and error["code"]
            if field is not None:
                assert error["details"]["field"] == field, error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_resuming_another_users_interrupt_is_refused(authed: GatewayThread) -> None:
    register(authed, "guarded", guarded)
    url = post_url(authed, "ag-ui", "guarded")
    paused = await read_stream(url, body=body_for("ag-ui", "/f"), headers=bearer(TOKEN_A))
    (interrupt,) = paused.payloads[-1]["outcome"]["interrupts"]
    body = body_for("ag-ui", "/f") | {
        "resume": [{"interruptId": interrupt["id"], "status": "resolved"}]
    }
    refused = await read_stream(url, body=body, headers=bearer(TOKEN_B))
    assert refused.response.status_code == 404
    run = hub_of(authed).runs.get(paused.run_id)
    assert run is not None and run.running  # still waiting for its requester


#: The idle timeout of the gateway :func:`quiet` is run on (its upkeep ticks every 0.05 s).
QUIET_IDLE_TIMEOUT = 0.2


async def quiet(text: str) -> AsyncIterator[AgentEvent]:
    """Says a word, thinks for longer than the gateway's idle timeout (and the upkeep
    tick that would notice it) several times over, says another."""
    yield "thinking "
    await asyncio.sleep(2.5 * QUIET_IDLE_TIMEOUT)
    yield "done."


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_stream_outlives_the_idle_timeout_while_its_agent_is_quiet(
    gateway_factory: Factory, protocol: str
) -> None:
    # An HTTP stream never speaks: the idle timeout of silent WebSocket clients is not for it.
    gateway = gateway_factory(GatewayConfig(limits=LimitsConfig(idle_timeout=QUIET_IDLE_TIMEOUT)))
    register(gateway, "quiet", quiet)
    read = await read_stream(post_url(gateway, protocol, "quiet"), body=body_for(protocol, "q"))
    assert text_of(protocol, read) == "thinking done."
    assert read.types[-1] == ("RUN_FINISHED" if protocol == "ag-ui" else "finish")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_finished_run_reopens_whatever_the_channel_settings(
    gateway_factory: Factory, protocol: str
) -> None:
    # A run's watcher is no pub/sub subscriber: neither auto_create_channels nor push applies.
    config = GatewayConfig(auto_create_channels=False, push=PushConfig(enabled=False))
    gateway = gateway_factory(config)
    first = await read_stream(post_url(gateway, protocol), body=body_for(protocol, QUESTION))
    stream = f"{post_url(gateway, protocol)}/runs/{first.run_id}/stream"
    again = await read_stream(stream, method="GET")
    assert again.payloads == first.payloads and text_of(protocol, again) == ANSWER
    tail = await read_stream(f"{stream}?after={first.events[-3].id}", method="GET")
    assert tail.payloads == first.payloads[-2:]


async def test_use_chat_resume_reconnects_to_the_conversations_running_run(
    gateway: GatewayThread,
) -> None:
    # useChat({resume: true}) GETs <api>/<chatId>/stream: the running run, or 204.
    url = post_url(gateway, "ai-sdk", "demo-long")
    async with http_client(timeout=timeout(5)) as http:
        idle = await http.get(f"{url}/chat-r/stream")
        assert idle.status_code == 204
    # Half a second of tokens: still running when the cut client comes back for it.
    cut = await read_stream(url, body=body_for("ai-sdk", "150@300", "chat-r"), stop_after=4)
    again = await read_stream(f"{url}/chat-r/stream", method="GET")
    assert again.response.status_code == 200
    assert again.payloads[:4] == cut.payloads  # the whole run, from its start
    assert again.types[-1] == "finish" and again.done
    assert text_of("ai-sdk", again) == "".join(f"t{i} " for i in range(150))
    async with http_client(timeout=timeout(5)) as http:
        assert (await http.get(f"{url}/chat-r/stream")).status_code == 204  # over
        other = await http.get(f"{url}/chat-other/stream")
        assert other.status_code == 204


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_run_longer_than_the_history_streams_live_but_cannot_be_replayed(
    gateway_factory: Factory, protocol: str
) -> None:
    gateway = gateway_factory(GatewayConfig(history=HistoryConfig(size=20)))
    url = post_url(gateway, protocol, "demo-long")
    live = await read_stream(url, body=body_for(protocol, "400@1000"))
    assert text_of(protocol, live) == "".join(f"t{i} " for i in range(400))  # live: all of it
    assert len(live.events) > 40
    replay = await read_stream(f"{url}/runs/{live.run_id}/stream", method="GET")
    # The start has left the history: an explicit error, never a stream with a gap.
    last = replay.payloads[-1]
    if protocol == "ag-ui":
        assert replay.types == ["RUN_STARTED", "RUN_ERROR"] and last["code"] == "HISTORY_GONE"
    else:
        assert replay.types == ["error"] and last["errorText"].startswith("HISTORY_GONE: ")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reopening_after_the_last_event_or_resuming_a_foreign_interrupt_ends_at_once(
    gateway: GatewayThread, protocol: str
) -> None:
    url = post_url(gateway, protocol)
    run = await read_stream(url, body=body_for(protocol, QUESTION))
    stream = f"{url}/runs/{run.run_id}/stream"
    nothing = await read_stream(f"{stream}?after={run.events[-1].id}", method="GET")
    assert nothing.response.status_code == 200 and nothing.events == []
    key = f"{run.run_id}:no_such_call"
    if protocol == "ag-ui":
        body = body_for(protocol, "x") | {"resume": [{"interruptId": key, "status": "resolved"}]}
    else:
        part = {"type": "tool-x", "toolCallId": "no_such_call", "state": "approval-responded"}
        assistant = {"id": "a", "role": "assistant", "parts": [part]}
        part["approval"] = {"id": key, "approved": True}
        body = body_for(protocol, "x")
        body["messages"].append(assistant)
    unknown = await read_stream(url, body=body)
    last = unknown.payloads[-1]
    if protocol == "ag-ui":
        assert unknown.types == ["RUN_STARTED", "RUN_ERROR"]
        assert last["code"] == "UNKNOWN_INTERRUPT"
    else:
        assert unknown.types == ["error"] and last["errorText"].startswith("UNKNOWN_INTERRUPT")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resume_over_redis_has_no_gap_or_duplicate(
    gateway_factory: Factory, redis_server: Any, redis_prefix: str, protocol: str
) -> None:
    # History and the live stream come from Redis: the join holds what arrives meanwhile.
    redis = RedisConfig(url=redis_server.url, prefix=redis_prefix)
    gateway = gateway_factory(GatewayConfig(push=PushConfig(enabled=True, redis=redis)))
    url = post_url(gateway, protocol, "demo-long")
    first = await read_stream(url, body=body_for(protocol, SLOW), stop_after=10)
    last = first.events[-1].id or ""
    rest = await read_stream(url, body=body_for(protocol, SLOW), headers={"Last-Event-ID": last})
    whole = await read_stream(f"{url}/runs/{first.run_id}/stream", method="GET")
    assert first.payloads + rest.payloads == whole.payloads
    assert [e.id for e in first.events + rest.events] == [e.id for e in whole.events]
    assert text_of(protocol, whole) == "".join(f"t{i} " for i in range(60))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_run_and_connection_limits_apply(gateway_factory: Factory, protocol: str) -> None:
    limits = LimitsConfig(max_runs_per_connection=1, max_connections=2)
    gateway = gateway_factory(GatewayConfig(limits=limits))
    url = post_url(gateway, protocol, "demo-long") + "?client_id=tab-9"
    async with (
        http_client(timeout=timeout(5)) as http,
        http.stream("POST", url, json=body_for(protocol, FOREVER)) as running,
    ):
        assert running.status_code == 200
        second = await http.post(url, json=body_for(protocol, "3"))
        assert second.status_code == 429
        assert second.json()["details"]["limit"] == "max_runs_per_connection"
        run_id = running.headers["x-run-id"]
        stream = f"{post_url(gateway, protocol, 'demo-long')}/runs/{run_id}/stream"
        async with http.stream("GET", stream) as watcher:  # the second connection
            assert watcher.status_code == 200
            third = await http.get(stream)
            assert third.status_code == 429
            assert third.json()["details"]["limit"] == "max_connections"
        cancel = f"{gateway.http_url}/v1/runs/{run_id}/cancel?client_id=tab-9"
        assert (await http.post(cancel)).status_code == 202
