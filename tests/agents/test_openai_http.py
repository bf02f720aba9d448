"""``ChatAgent``'s HTTP edges, with respx standing in for the model server:
SSE bodies cut anywhere, malformed and error records, HTTP failures mapped to
run error codes (no secret in any message), and the SDK's retries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest
import respx

from praison_push.agents import (
    AgentContext,
    AgentError,
    Reasoning,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
)
from praison_push.agents.openai import ChatAgent

BASE = "http://model.test/v1"
URL = BASE + "/chat/completions"
SECRET = "sk-very-secret-key"
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK honours it: retries without a real backoff


def record(delta: dict[str, Any] | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 0,
                            "model": "m", **extra}  # fmt: skip
    if delta is not None:
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    return "data: " + json.dumps(body) + "\n\n"


class Cut(httpx.AsyncByteStream):
    """A response body delivered in pieces of ``size`` bytes (records split anywhere)."""

    def __init__(self, text: str, size: int) -> None:
        self.data, self.size = text.encode(), size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]


def sse(records: Iterable[str], size: int = 7) -> httpx.Response:
    body = "".join(records)
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=Cut(body, size)
    )


async def events_of(agent: ChatAgent, text: str = "hi") -> list[Any]:
    return [event async for event in agent(text, AgentContext("exec_t", "a"))]


def agent(**options: Any) -> ChatAgent:
    options.setdefault("max_retries", 0)
    return ChatAgent("m", base_url=BASE, api_key=SECRET, **options)


def weather(city: str) -> str:
    """Weather."""
    return f"sunny in {city}"


@respx.mock
async def test_a_body_cut_anywhere_still_gives_every_event_in_order() -> None:
    respx.post(URL).mock(
        side_effect=[
            sse(
                [
                    record({"role": "assistant", "content": ""}),
                    record({"reasoning_content": "thinking"}),
                    record({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                            "function": {"name": "weather", "arguments": ""}}]}),
                    record({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
                    record({"tool_calls": [{"index": 0,
                                            "function": {"arguments": 'ty":"Oslo"}'}}]}),
                    record(usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                           choices=[]),
                    "data: [DONE]\n\n",
                ],
                size=5,
            ),
            sse([record({"content": "Sunny "}), record({"content": "in Oslo."}),
                 "data: [DONE]\n\n"], size=3),
        ]
    )  # fmt: skip
    events = await events_of(agent(tools=[weather]))
    call = ToolCall("weather", {"city": "Oslo"}, id="call_1")
    assert events[:4] == [
        Reasoning("thinking"),
        ToolCallDelta("call_1", '{"ci', "weather"),
        ToolCallDelta("call_1", 'ty":"Oslo"}', "weather"),
        call,
    ]
    assert isinstance(events[4], ToolResult) and events[4].result == "sunny in Oslo"
    assert events[5:] == ["Sunny ", "in Oslo.", Usage(5, 2)]
    sent = json.loads(respx.calls[1].request.content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "call_1",
                                    "content": "sunny in Oslo"}  # fmt: skip
    assert respx.calls[0].request.headers["authorization"] == f"Bearer {SECRET}"


@respx.mock
async def test_crlf_line_endings_and_comments_are_read() -> None:
    body = (
        ": keepalive\r\n\r\n"
        + record({"content": "ok"}).replace("\n", "\r\n")
        + "data: [DONE]\r\n\r\n"
    )
    respx.post(URL).mock(return_value=sse([body], size=4))
    assert await events_of(agent()) == ["ok"]


@respx.mock
async def test_a_malformed_record_is_a_model_error() -> None:
    respx.post(URL).mock(return_value=sse([record({"content": "par"}), "data: {not json\n\n"]))
    seen: list[Any] = []
    with pytest.raises(AgentError) as caught:
        async for event in agent()("hi", AgentContext("e", "a")):
            seen.append(event)
    assert seen == ["par"]  # what came before the bad record was delivered
    assert caught.value.code == "MODEL_ERROR"
    assert "malformed stream" in caught.value.message


@respx.mock
async def test_an_error_record_mid_stream_is_a_model_error() -> None:
    error = 'data: {"error": {"message": "the model overloaded"}}\n\n'
    respx.post(URL).mock(return_value=sse([record({"content": "a"}), error]))
    with pytest.raises(AgentError) as caught:
        await events_of(agent())
    assert caught.value.code == "MODEL_ERROR"
    assert "mid-stream" in caught.value.message and "overloaded" in caught.value.message


@respx.mock
async def test_odd_but_valid_records_are_skipped() -> None:
    respx.post(URL).mock(
        return_value=sse(
            [
                record(None),  # no choices at all
                'data: {"choices": [{"index": 0}]}\n\n',  # a choice without a delta
                record({"content": None, "tool_calls": None}),
                record({"content": "fine"}),
                "data: [DONE]\n\n",
            ]
        )
    )
    assert await events_of(agent()) == ["fine"]


def status(code: int, message: str = "nope", **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"error": {"message": message}}, headers=headers)


@pytest.mark.parametrize(
    ("response", "code", "words", "details"),
    [
        (status(401, f"Incorrect API key provided: {SECRET}"), "MODEL_UNAUTHORIZED",
         "refused the credentials (HTTP 401)", {"status": 401}),
        (status(403), "MODEL_UNAUTHORIZED", "(HTTP 403)", {"status": 403}),
        (status(404, "The model `m` does not exist"), "MODEL_NOT_FOUND",
         "model 'm' at model.test was not found (HTTP 404): The model `m` does not exist",
         {"status": 404}),
        (status(429, "slow down", **{"retry-after": "7"}), "RATE_LIMITED",
         "is rate limiting (HTTP 429, 0 retries): slow down", {"status": 429, "retry_after": 7.0}),
        (status(503, "overloaded"), "MODEL_UNAVAILABLE", "failed (HTTP 503, 0 retries)",
         {"status": 503}),
        (status(422, "bad tools"), "MODEL_ERROR", "failed (HTTP 422): bad tools", {"status": 422}),
    ],
)  # fmt: skip
@respx.mock
async def test_http_failures_become_run_errors(
    response: httpx.Response, code: str, words: str, details: dict[str, Any]
) -> None:
    respx.post(URL).mock(return_value=response)
    with pytest.raises(AgentError) as caught:
        await events_of(agent())
    assert caught.value.code == code
    assert words in caught.value.message
    assert caught.value.details == details
    assert SECRET not in caught.value.message  # even when the server echoed the key


@respx.mock
async def test_timeouts_and_refused_connections() -> None:
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(AgentError) as caught:
        await events_of(agent(timeout=3))
    assert caught.value.code == "MODEL_TIMEOUT"
    assert caught.value.message == "model 'm' at model.test did not answer within 3s (0 retries)"

    respx.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(AgentError) as caught:
        await events_of(agent())
    assert caught.value.code == "MODEL_UNAVAILABLE"
    assert caught.value.message.startswith("could not reach model 'm' at model.test")


@respx.mock
async def test_the_sdk_retries_rate_limits_and_server_errors() -> None:
    route = respx.post(URL).mock(
        side_effect=[
            status(429, **FAST_RETRY),
            status(503, **FAST_RETRY),
            sse([record({"content": "at last"}), "data: [DONE]\n\n"]),
        ]
    )
    assert await events_of(agent(max_retries=2)) == ["at last"]
    assert route.call_count == 3


@respx.mock
async def test_retries_run_out() -> None:
    route = respx.post(URL).mock(return_value=status(500, "down", **FAST_RETRY))
    with pytest.raises(AgentError) as caught:
        await events_of(agent(max_retries=2))
    assert route.call_count == 3
    assert (caught.value.code, "2 retries" in caught.value.message) == ("MODEL_UNAVAILABLE", True)


@respx.mock
async def test_a_model_that_keeps_calling_tools_is_stopped() -> None:
    function = {"name": "weather", "arguments": "{}"}
    call = record(
        {"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": function}]}
    )
    respx.post(URL).mock(side_effect=lambda request: sse([call, "data: [DONE]\n\n"]))
    with pytest.raises(AgentError) as caught:
        await events_of(agent(tools=[weather], max_turns=2))
    assert caught.value.code == "AGENT_FAILED"
    assert "max_turns=2" in caught.value.message
    assert len(respx.calls) == 2


def test_construction_checks_and_a_secret_free_repr() -> None:
    with pytest.raises(ValueError, match="model"):
        ChatAgent("")
    with pytest.raises(ValueError, match="max_turns"):
        ChatAgent("m", base_url=BASE, max_turns=0)
    with pytest.raises(ValueError, match="requires_approval names no tool"):
        ChatAgent("m", base_url=BASE, tools=[weather], requires_approval=["rm"])
    shown = ChatAgent("m", base_url="http://user:pw@host.test:8000/v1", api_key=SECRET)
    assert repr(shown) == "<ChatAgent m at host.test:8000>"
    assert SECRET not in repr(vars(shown).get("__doc__"))
    marked = ChatAgent("m", base_url=BASE, tools=[weather], requires_approval=["weather"])
    assert marked.tools["weather"].approval is True


async def test_no_key_at_all_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(AgentError) as caught:
        await events_of(ChatAgent("gpt-4o-mini"))
    assert caught.value.code == "MODEL_UNAUTHORIZED"
    assert "OPENAI_API_KEY" in caught.value.message
