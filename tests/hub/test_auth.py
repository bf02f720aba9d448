"""Token checks: every configured token accepted, anything else refused, all compared each time."""

from __future__ import annotations

import hmac

import pytest

from praison_push.config import AuthConfig, GatewayConfig, TokenGrant
from praison_push.hub import ANONYMOUS, OPERATOR, Authenticator, Principal
from praison_push.protocol import CloseCode

from .helpers import MakeHub, drain, join


def test_no_tokens_means_open() -> None:
    authenticator = Authenticator(AuthConfig())
    assert authenticator.required is False
    # No authentication: everyone is the operator (the same identity as ANONYMOUS).
    assert authenticator.check(None) is OPERATOR == ANONYMOUS
    assert authenticator.check("anything") is OPERATOR


def test_each_configured_token_is_accepted() -> None:
    authenticator = Authenticator(
        AuthConfig(
            tokens=[
                "shared-1",
                "shared-2",
                TokenGrant(token="alice-t", user_id="alice", org_id="acme"),
                TokenGrant(token="bob-t", user_id="bob"),
                TokenGrant(token="org-t", org_id="acme"),
            ]
        )
    )
    assert authenticator.required is True
    assert authenticator.check("shared-1") is OPERATOR
    assert authenticator.check("shared-2") is OPERATOR
    assert authenticator.check("alice-t") == Principal("alice", "acme")
    assert authenticator.check("bob-t") == Principal("bob", None)
    assert authenticator.check("org-t") == Principal(None, "acme")


@pytest.mark.parametrize(
    "token", [None, "", "shared", "shared-11", "SHARED-1", " shared-1", "shared-1 ", "\ud800"]
)
def test_anything_else_is_refused(token: str | None) -> None:
    authenticator = Authenticator(AuthConfig(tokens=["shared-1"]))
    assert authenticator.check(token) is None


def test_unicode_tokens() -> None:
    authenticator = Authenticator(AuthConfig(tokens=["clé-✓"]))
    assert authenticator.check("clé-✓") is OPERATOR
    assert authenticator.check("cle-✓") is None


def test_the_first_matching_entry_wins() -> None:
    authenticator = Authenticator(
        AuthConfig(
            tokens=[TokenGrant(token="t", user_id="first"), TokenGrant(token="t", user_id="x")]
        )
    )
    assert authenticator.check("t") == Principal("first")


@pytest.mark.parametrize("token", ["t0", "t3", "nope"])
def test_every_token_is_compared_every_time(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    # Constant time: the work done says nothing about which token nearly matched.
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    authenticator = Authenticator(AuthConfig(tokens=[f"t{n}" for n in range(4)]))
    authenticator.check(token)
    assert len(compared) == 4
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compared)


def test_repr_shows_no_secret() -> None:
    authenticator = Authenticator(AuthConfig(tokens=["super-secret", TokenGrant(token="other")]))
    assert repr(authenticator) == "<Authenticator tokens=2>"


async def test_hub_authenticate_delegates(make_hub: MakeHub) -> None:
    hub = make_hub(GatewayConfig(auth=AuthConfig(tokens=[TokenGrant(token="t", user_id="u")])))
    assert hub.auth_required is True
    assert hub.authenticate("t") == Principal("u")
    assert hub.authenticate("x") is None
    assert make_hub().auth_required is False


async def test_a_bad_token_in_a_later_auth_frame_closes_the_connection(make_hub: MakeHub) -> None:
    hub = make_hub(GatewayConfig(auth=AuthConfig(tokens=["right"])))
    alice = join(hub, "alice")
    await hub.receive(alice, '{"type":"auth","token":"wrong","ref":"a"}')
    assert drain(alice) == [
        {"type": "hello_error", "code": "auth_required", "message": "invalid token"}
    ]
    assert (alice.close_code, alice.close_reason) == (CloseCode.AUTH_REQUIRED, "invalid token")
    bob = join(hub, "bob")
    await hub.receive(bob, '{"type":"auth","token":"right","ref":"b"}')
    (greeting,) = drain(bob)
    assert (greeting["type"], greeting["ref"]) == ("connected", "b")
