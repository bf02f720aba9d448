"""Issue 13, finding 3: a ``client_id`` cannot be borrowed by another principal.

The attack: a client of another organisation connected with a victim's
``client_id`` (visible as ``source`` and in presence), spoofed ``source``,
suppressed the victim's idempotent publishes and replaced its presence entry.
Now it is given a fresh id, while the victim keeps its own, also after it
disconnected (the binding outlives the connection).
"""

from __future__ import annotations

import pytest
from support import ask, dial, expect, next_frame

from praison_push.config import AuthConfig, GatewayConfig, TokenGrant
from praison_push.hub import Principal
from praison_push.hub.client_ids import ClientIds
from praison_push.server import GatewayThread

from .conftest import Serve

VICTIM_TOKEN, OTHER_TOKEN = "victim-token", "other-token"
VICTIM_ID = "victim-1"


@pytest.fixture
def two_orgs(serve: Serve) -> GatewayThread:
    grants = [
        TokenGrant(token=VICTIM_TOKEN, user_id="alice", org_id="acme"),
        TokenGrant(token=OTHER_TOKEN, user_id="mallory", org_id="evil"),
    ]
    return serve(GatewayConfig(auth=AuthConfig(tokens=grants)))  # type: ignore[arg-type]


def url(gateway: GatewayThread, token: str, client_id: str = VICTIM_ID) -> str:
    return f"{gateway.url}?token={token}&client_id={client_id}"


async def test_another_principal_gets_a_fresh_client_id(two_orgs: GatewayThread) -> None:
    async with dial(url(two_orgs, VICTIM_TOKEN)) as victim:
        assert (await expect(victim, "connected"))["client_id"] == VICTIM_ID
        reply = await ask(victim, "channel.subscribe", channel="shared", ref=1)
        assert reply["type"] == "channel.subscribed"
        async with dial(url(two_orgs, OTHER_TOKEN)) as attacker:
            greeting = await expect(attacker, "connected")
            assert greeting["client_id"] != VICTIM_ID
            # The attacker's publication is its own, not the victim's.
            published = await ask(
                attacker, "channel.publish", channel="shared", data={"x": 1}, id="m1"
            )
            assert published["type"] == "channel.published"
            message = await next_frame(victim)
            assert message["type"] == "channel_message"
            assert message["source"] == greeting["client_id"] != VICTIM_ID
            # ... and its publish id does not suppress the victim's.
            own = await ask(victim, "channel.publish", channel="shared", data={"y": 2}, id="m1")
            assert own["type"] == "channel.published" and not own.get("duplicate"), own
            presence = await ask(victim, "presence.query", channel="shared")
            assert VICTIM_ID in {entry["client_id"] for entry in presence["presence"]}


async def test_the_binding_outlives_the_victims_connection(two_orgs: GatewayThread) -> None:
    async with dial(url(two_orgs, VICTIM_TOKEN)) as victim:
        assert (await expect(victim, "connected"))["client_id"] == VICTIM_ID
    async with dial(url(two_orgs, OTHER_TOKEN)) as attacker:
        assert (await expect(attacker, "connected"))["client_id"] != VICTIM_ID
    async with dial(url(two_orgs, VICTIM_TOKEN)) as victim:  # its owner gets it back
        assert (await expect(victim, "connected"))["client_id"] == VICTIM_ID


def test_bindings_expire_and_stay_bounded() -> None:
    alice, bob = Principal("alice", "acme"), Principal("bob", "acme")
    ids = ClientIds(ttl=10, max_idle=2)
    assert ids.claim("c1", alice, 0) and ids.claim("c1", alice, 0)
    assert not ids.claim("c1", bob, 1)
    ids.release("c1", 2)
    assert not ids.claim("c1", bob, 3)  # one connection left
    ids.release("c1", 4)
    assert not ids.claim("c1", bob, 13.9)  # within ttl of the last release
    assert ids.claim("c1", bob, 14.1)  # expired: the id is free again
    for n, client in enumerate(("a", "b", "c")):
        assert ids.claim(client, alice, 20)
        ids.release(client, 20 + n)
    assert ids.claim("a", bob, 30)  # the oldest idle binding went first (max_idle=2)
    assert not ids.claim("c", bob, 30)
    # A generated id is bound while connected only.
    assert ids.claim("gen-1", alice, 40, sticky=False)
    assert not ids.claim("gen-1", bob, 40)
    before = len(ids)
    ids.release("gen-1", 41)
    assert len(ids) == before - 1 and ids.claim("gen-1", bob, 41)
