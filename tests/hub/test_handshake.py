"""The opening of a connection, as pure functions: dialect, credentials, greeting, refusal."""

from __future__ import annotations

import json

import pytest

from praison_push.hub import ANONYMOUS, Connection, Principal
from praison_push.hub.handshake import (
    Opening,
    UnknownDialect,
    detect,
    greeting,
    needs_first_frame,
    opening,
    refusal,
    requested_dialect,
    token_from_auth_frame,
    valid_client_id,
)
from praison_push.protocol import PROTOCOL_VERSION, CloseCode

MAX = 64 * 1024


def connection(dialect: str = "praison", principal: Principal = ANONYMOUS) -> Connection:
    return Connection(
        "conn-1",
        "alice",
        principal=principal,
        peer="127.0.0.1",
        now=0.0,
        max_frames=10,
        max_bytes=10_000,
        dialect=dialect,
    )


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ('{"type":"auth","token":"t1"}', "t1"),
        ('{"type":"auth","payload":{"token":"t2"}}', "t2"),
        ('{"type":"auth","token":"t1","payload":{"token":"t2"}}', "t1"),
        ('{"type":"auth"}', None),
        ('{"type":"auth","token":5}', None),
        ('{"type":"auth","payload":"t"}', None),
        ('{"type":"ping","token":"t1"}', None),
        ("not json", None),
        ("[]", None),
    ],
)
def test_token_from_auth_frame(text: str, token: str | None) -> None:
    assert token_from_auth_frame(text, MAX) == token


def test_token_from_an_oversized_auth_frame() -> None:
    oversized = json.dumps({"type": "auth", "token": "t" * 300})
    assert token_from_auth_frame(oversized, 256) is None


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ('{"type":"auth","payload":{"token":"t"}}', "envelope"),
        ('{"type":"chat","agent_id":"a","message":"hi"}', "agent-chat"),
        ('{"type":"channel.subscribe","channel":"c"}', "praison"),
        ("not json", "praison"),
    ],
)
def test_detect(text: str, dialect: str) -> None:
    assert detect(text, MAX) == dialect


def test_requested_dialect() -> None:
    assert requested_dialect(None, None) is None  # the first frame decides
    assert requested_dialect("envelope", None) == "envelope"
    assert requested_dialect(None, "conversation-1") == "agent-chat"  # /ws/{session_id}
    assert requested_dialect("praison", "conversation-1") == "praison"
    with pytest.raises(UnknownDialect):
        requested_dialect("klingon", None)


@pytest.mark.parametrize(
    ("token", "dialect", "auth_required", "waits"),
    [
        (None, None, True, True),  # the token may come in the first frame
        (None, None, False, False),  # an open gateway greets at once
        (None, "envelope", False, True),  # envelope is greeted only in answer to its auth
        ("t", "envelope", True, False),
        ("t", None, True, False),
    ],
)
def test_needs_first_frame(
    token: str | None, dialect: str | None, auth_required: bool, waits: bool
) -> None:
    assert needs_first_frame(token, dialect, auth_required) is waits


def test_an_auth_first_frame_is_the_authentication() -> None:
    first = '{"type":"auth","payload":{"token":"t"}}'
    assert opening(None, None, first, MAX) == Opening("t", "envelope", None, greet=True)


def test_another_first_frame_fixes_the_dialect_and_is_handled_later() -> None:
    first = '{"type":"chat","agent_id":"a","message":"hi"}'
    assert opening(None, None, first, MAX) == Opening(None, "agent-chat", first, greet=True)


def test_an_envelope_client_without_an_auth_frame_is_not_greeted() -> None:
    first = '{"type":"ping","id":"1"}'
    assert opening(None, "envelope", first, MAX) == Opening(None, "envelope", first, greet=False)
    assert opening("t", "envelope", None, MAX).greet is False


def test_without_a_first_frame_the_upgrade_decides() -> None:
    assert opening("t", None, None, MAX) == Opening("t", None, None, greet=True)


def test_greeting_in_each_dialect() -> None:
    (native,) = greeting(
        connection(), server_id="node", heartbeat_interval=15, max_message_size=MAX, ref="r"
    )
    assert json.loads(native) == {
        "type": "connected",
        "client_id": "alice",
        "server_id": "node",
        "protocol": PROTOCOL_VERSION,
        "heartbeat_interval": 15,
        "resumed": False,
        "max_message_size": MAX,
        "ref": "r",
    }
    (chat,) = greeting(
        connection("agent-chat"), server_id="node", heartbeat_interval=15, max_message_size=MAX
    )
    assert json.loads(chat) == {"type": "connected", "client_id": "alice"}
    user = Principal("usr_1", "org_1")
    (envelope,) = greeting(
        connection("envelope", user), server_id="node", heartbeat_interval=15, max_message_size=MAX
    )
    assert json.loads(envelope) == {
        "type": "auth_success",
        "payload": {"user_id": "usr_1", "org_id": "org_1", "connection_id": "conn-1"},
    }


def test_refusal_in_each_dialect() -> None:
    text, code = refusal(None, "a valid token is required")
    assert code == CloseCode.AUTH_REQUIRED
    assert json.loads(text) == {
        "type": "hello_error",
        "code": "auth_required",
        "message": "a valid token is required",
    }
    text, code = refusal("envelope", "invalid token")
    assert code == CloseCode.AUTH_FAILED
    assert json.loads(text)["type"] == "auth_error"


@pytest.mark.parametrize(
    ("client_id", "kept"),
    [
        ("alice", True),
        ("a.b:c@d-e_f", True),
        ("x" * 128, True),
        (None, False),
        ("", False),
        ("has space", False),
        ("x" * 129, False),
        ("semi;colon", False),
    ],
)
def test_valid_client_id(client_id: str | None, kept: bool) -> None:
    assert valid_client_id(client_id) is kept
