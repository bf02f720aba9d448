"""``praison_push.testing``'s local OpenAI-compatible model, over real HTTP: what the
official SDK reads from it, streamed and whole, its errors, and what it records."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from support import http_client_sync, wait_until_threaded

from praison_push.testing import FakeModel, FakeModelServer, ModelTurn, ScriptedToolCall


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as running:
        yield running


def sdk(server: FakeModelServer, key: str = "k") -> object:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def test_the_sdk_streams_a_scripted_turn(server: FakeModelServer) -> None:
    server.model.add(
        ModelTurn(
            text="It is sunny",
            reasoning="Let me see",
            tool_calls=(ScriptedToolCall("get_weather", {"city": "Paris"}, id="call_1", chunk=5),),
        )
    )
    client = sdk(server)
    stream = client.chat.completions.create(  # type: ignore[attr-defined]
        model="fake-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "It is sunny"
    assert "".join((d.model_extra or {}).get("reasoning_content", "") for d in deltas) == (
        "Let me see"
    )
    pieces = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert pieces[0].id == "call_1" and pieces[0].function.name == "get_weather"
    arguments = "".join(p.function.arguments or "" for p in pieces)
    assert json.loads(arguments) == {"city": "Paris"}
    assert len(pieces) > 2  # the arguments came in several pieces
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 4
    assert server.model.requests[0]["messages"] == [{"role": "user", "content": "hi"}]


def test_whole_answers_and_the_echo_without_a_script(server: FakeModelServer) -> None:
    server.model.add(ModelTurn.call("lookup", '{"q": 1}', id="call_9"))
    client = sdk(server)
    called = client.chat.completions.create(  # type: ignore[attr-defined]
        model="fake-model", messages=[{"role": "user", "content": "x"}]
    )
    (call,) = called.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_9",
        "lookup",
        '{"q": 1}',
    )
    echoed = client.chat.completions.create(  # type: ignore[attr-defined]
        model="fake-model", messages=[{"role": "user", "content": "hello there"}]
    )
    assert echoed.choices[0].message.content == "You said: hello there"
    assert [m.id for m in client.models.list()] == ["fake-model"]  # type: ignore[attr-defined]


def test_scripted_failures_and_routes(server: FakeModelServer) -> None:
    server.model.add(ModelTurn.fail(429, "slow down", headers=(("retry-after", "3"),)))
    with http_client_sync(base_url=server.base_url) as http:
        limited = http.post("/chat/completions", json={"messages": []})
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "3"
        assert limited.json()["error"]["message"] == "slow down"
        assert http.post("/chat/completions", content=b"{oops").status_code == 400
        assert http.get("/nowhere").status_code == 404


def test_a_key_is_checked_when_set() -> None:
    with FakeModelServer(FakeModel(api_key="right")) as server:
        with pytest.raises(openai.AuthenticationError):
            sdk(server, "wrong").models.list()  # type: ignore[attr-defined]
        assert sdk(server, "right").models.list().data  # type: ignore[attr-defined]


def test_raw_records_and_hangups_are_recorded(server: FakeModelServer) -> None:
    server.model.add(
        ModelTurn(raw=("{not json",)),
        ModelTurn.say(" ".join(["w"] * 200), delay=0.01),
    )
    with http_client_sync(base_url=server.base_url) as http:
        raw = http.post("/chat/completions", json={"stream": True, "messages": []})
        assert raw.text == "data: {not json\n\n"
        with http.stream("POST", "/chat/completions", json={"stream": True}) as slow:
            next(slow.iter_lines())
        # Closed after one record of a slow stream: the model saw the hang-up.
    wait_until_threaded(lambda: len(server.model.hangups) == 1, what="the hang-up")
    assert repr(server.model) == "<FakeModel fake-model 0 turns left>"


def test_the_server_starts_and_stops() -> None:
    server = FakeModelServer()
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    with server:
        assert server.running and server.base_url.startswith("http://127.0.0.1:")
        assert server.start() is server  # already running
    assert not server.running
