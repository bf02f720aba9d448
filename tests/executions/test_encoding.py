"""One encoder per dialect: a native frame in, that dialect's wire text out."""

from __future__ import annotations

import json

import pytest

from praison_push.hub.encoding import SSE_EXECUTION, encoder_for
from praison_push.protocol.dialects import Dialect
from praison_push.protocol.sse import SSE_DONE

TOKEN = {
    "type": "channel_message",
    "channel": "executions:exec_1",
    "data": {
        "event": "execution_token",
        "execution_id": "exec_1",
        "agent_id": "a",
        "token": "Hi",
        "index": 0,
    },
    "event_id": "e1",
    "timestamp": 1_768_212_000.1,
    "offset": 1,
}
COMPLETE = {
    **TOKEN,
    "data": {
        "event": "execution_complete",
        "execution_id": "exec_1",
        "agent_id": "a",
        "output": "Hi",
    },
}
CONNECTED = {"type": "connected", "client_id": "c1", "server_id": "s"}


def decode(texts: tuple[str, ...]) -> list[dict[str, object]]:
    return [json.loads(text) for text in texts]


def test_native_is_the_frame_itself() -> None:
    encode = encoder_for(Dialect.PRAISON.value)
    assert decode(encode(TOKEN)) == [TOKEN]
    assert decode(encode(CONNECTED)) == [CONNECTED]


def test_envelope() -> None:
    encode = encoder_for("envelope")
    assert decode(encode(TOKEN)) == [
        {
            "type": "execution_token",
            "id": "e1",
            "timestamp": "2026-01-12T10:00:00.100Z",
            "payload": {"execution_id": "exec_1", "agent_id": "a", "token": "Hi", "index": 0},
        }
    ]
    assert encode(CONNECTED) == ()  # an envelope client is greeted by auth_success instead


def test_agent_chat() -> None:
    encode = encoder_for("agent-chat")
    assert decode(encode(TOKEN)) == [
        {"type": "stream_chunk", "agent_id": "a", "chunk": "Hi", "done": False}
    ]
    assert [frame["type"] for frame in decode(encode(COMPLETE))] == [
        "stream_chunk",
        "response",
        "agent_done",
    ]
    assert decode(encode(CONNECTED)) == [{"type": "connected", "client_id": "c1"}]


def test_sse_execution() -> None:
    encode = encoder_for(SSE_EXECUTION)
    assert encode(TOKEN) == ('event: token\nid: e1\ndata: {"token":"Hi","index":0}\n\n',)
    records = encode(COMPLETE)
    assert records[0].startswith("event: complete\n") and records[1] == SSE_DONE
    assert encode(CONNECTED) == ()
    assert encode({"type": "ping"}) == (": keepalive\n\n",)


def test_every_dialect_has_an_encoder_and_nothing_else_does() -> None:
    for dialect in Dialect:
        assert callable(encoder_for(dialect.value))
    with pytest.raises(KeyError):
        encoder_for("carrier-pigeon")
