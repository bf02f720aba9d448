"""Issue 13, build 3 and finding 9: channel permissions, the same on every transport and dialect."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from support import ask, dial, expect

from praison_push.config import AuthConfig, ChannelRule, GatewayConfig, TokenGrant
from praison_push.hub import OPERATOR, Principal
from praison_push.hub.permissions import ChannelPolicy
from praison_push.server import GatewayThread

ALICE = Principal("alice", "acme")
BOB = Principal("bob", "globex")
LONER = Principal("lonely")
READER = Principal("rita", "acme", permissions=frozenset({"dead_letter"}))
ACTIONS = ("subscribe", "publish", "presence", "history")


@pytest.mark.parametrize("action", ACTIONS)
def test_builtin_rules(action: str) -> None:
    policy = ChannelPolicy([])
    allowed = policy.allowed
    assert allowed(ALICE, action, "user:alice:inbox")
    assert not allowed(BOB, action, "user:alice:inbox")
    assert not allowed(Principal(None, "alice"), action, "user:alice:inbox")  # org named alice
    assert allowed(ALICE, action, "org:acme:news") and allowed(READER, action, "org:acme:x")
    assert not allowed(BOB, action, "org:acme:news") and not allowed(LONER, action, "org:acme:n")
    assert allowed(BOB, action, "public:lobby") and allowed(LONER, action, "public:lobby")
    assert allowed(BOB, action, "anything-else")  # other names: as before, open
    assert allowed(OPERATOR, action, "user:alice:inbox")  # the gateway's own token
    assert not allowed(OPERATOR, action, "$presence") and not allowed(READER, action, "$x")
    assert not allowed(ALICE, action, "$dead-letter")
    reads = action != "publish"
    assert allowed(OPERATOR, action, "$dead-letter") is reads
    assert allowed(READER, action, "$dead-letter") is reads


def test_configured_rules_come_first_and_hooks_before_them() -> None:
    rules = [
        ChannelRule(pattern="user:{user_id}:*", subscribe="all", publish="owner"),
        ChannelRule(pattern="admin.*", subscribe="operator", publish="nobody", permission="admin"),
    ]
    policy = ChannelPolicy(rules)
    assert policy.allowed(BOB, "subscribe", "user:alice:status")
    assert not policy.allowed(BOB, "publish", "user:alice:status")
    assert not policy.allowed(ALICE, "subscribe", "admin.audit")
    admin = Principal("ann", "acme", permissions=frozenset({"admin"}))
    assert policy.allowed(admin, "subscribe", "admin.audit")
    assert not policy.allowed(admin, "publish", "admin.audit")
    asked: list[tuple[Principal, str, str]] = []

    def authorize(principal: Principal, action: str, channel: str) -> bool | None:
        asked.append((principal, action, channel))
        return False if channel == "vault" else None

    hooked = ChannelPolicy([], authorize)
    assert not hooked.allowed(ALICE, "subscribe", "vault")
    assert hooked.allowed(ALICE, "subscribe", "user:alice:x")
    assert asked[0] == (ALICE, "subscribe", "vault")
    limited = Principal("alice", "acme", channels=("public:*", "user:alice:*"))
    assert policy.allowed(limited, "subscribe", "public:x")
    assert not policy.allowed(limited, "subscribe", "news")  # the token's channels claim


def test_a_rule_pattern_is_checked() -> None:
    with pytest.raises(ValueError):
        ChannelRule(pattern="")
    with pytest.raises(ValueError):
        ChannelRule(pattern="x", subscribe="everyone")  # type: ignore[arg-type]


@pytest.fixture
def identities(gateway_factory: Callable[..., GatewayThread]) -> GatewayThread:
    grants = [
        TokenGrant(token="alice-t", user_id="alice", org_id="acme"),
        TokenGrant(token="bob-t", user_id="bob", org_id="globex"),
        "operator-t",
    ]
    return gateway_factory(GatewayConfig(auth=AuthConfig(tokens=grants)))  # type: ignore[arg-type]


async def test_dollar_channels_cannot_be_subscribed_by_anyone(identities: GatewayThread) -> None:
    """Finding 9: ``$``-channels were open to every client."""
    async with dial(f"{identities.url}?token=alice-t") as ws:
        await expect(ws, "connected")
        for channel in ("$dead-letter", "$internal", "$presence"):
            reply = await ask(ws, "channel.subscribe", channel=channel)
            assert reply["type"] == "error" and reply["code"] == "forbidden", reply
            assert reply["message"] == f"subscribe on channel {channel!r} is not allowed"
            history = await ask(ws, "channel.history", channel=channel)
            assert history["code"] == "forbidden"
    async with dial(f"{identities.url}?token=operator-t") as ws:
        await expect(ws, "connected")
        reply = await ask(ws, "channel.subscribe", channel="$dead-letter")
        assert reply["type"] == "channel.subscribed"
        reply = await ask(ws, "channel.subscribe", channel="$internal")
        assert reply["code"] == "forbidden"


async def test_the_rules_hold_on_the_envelope_dialect(identities: GatewayThread) -> None:
    async with dial(identities.url + "?protocol=envelope") as ws:
        await ws.send(json.dumps({"type": "auth", "payload": {"token": "bob-t"}}))
        assert json.loads(await ws.recv())["type"] == "auth_success"
        await ws.send(
            json.dumps({"type": "subscribe", "id": "s1", "payload": {"channel": "user:alice:x"}})
        )
        error = json.loads(await ws.recv())
        await ws.send(
            json.dumps(
                {"type": "publish", "id": "p1", "payload": {"channel": "org:acme:x", "data": 1}}
            )
        )
        refused = json.loads(await ws.recv())
    assert error["type"] == "error" and error["id"] == "s1"
    assert error["payload"]["code"] == "forbidden"
    assert error["payload"]["details"]["action"] == "subscribe"
    assert refused["payload"]["details"] == {
        "action": "publish",
        "channel": "org:acme:x",
        "field": "channel",
    }


def test_a_failing_authorize_hook_denies(caplog: pytest.LogCaptureFixture) -> None:
    def broken(principal: Principal, action: str, channel: str) -> bool | None:
        raise RuntimeError("bug")

    assert not ChannelPolicy([], broken).allowed(OPERATOR, "subscribe", "news")
    assert "authorize hook failed" in caplog.text
