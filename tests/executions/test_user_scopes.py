"""Issue 13, finding 4: users without an organisation do not share the run feeds."""

from __future__ import annotations

import pytest

from praison_push.config import AuthConfig, GatewayConfig, TokenGrant
from praison_push.server import GatewayThread

from .helpers import Factory, execute, native, of_type, run_events, send, until

TOKEN_ALICE, TOKEN_BOB = "token-alice", "token-bob"


@pytest.fixture
def no_orgs(gateway_factory: Factory) -> GatewayThread:
    grants = [
        TokenGrant(token=TOKEN_ALICE, user_id="alice"),
        TokenGrant(token=TOKEN_BOB, user_id="bob"),
    ]
    return gateway_factory(GatewayConfig(auth=AuthConfig(tokens=grants)))  # type: ignore[arg-type]


async def test_a_user_without_an_org_sees_only_its_own_runs(no_orgs: GatewayThread) -> None:
    async with (
        native(no_orgs.url + f"?token={TOKEN_ALICE}") as alice,
        native(no_orgs.url + f"?token={TOKEN_BOB}") as bob,
    ):
        for ws in (alice, bob):
            await send(ws, {"type": "channel.subscribe", "channel": "executions"})
            await until(ws, of_type("channel.subscribed"))
        bobs = await execute(bob, "echo", "bob's secret")
        assert (await run_events(bob))[-1]["output"] == "bob's secret"
        # Naming Bob's run directly gives Alice her own (empty) scope, never his events.
        await send(alice, {"type": "channel.history", "channel": f"executions:{bobs}", "ref": "h"})
        history = await until(alice, of_type("channel.history", "error"))
        assert history[-1].get("messages", []) == []
        # Alice's own run is the first run event she sees on the feed.
        mine = await execute(alice, "echo", "alice's own")
        frames = await until(
            alice,
            lambda f: (
                f.get("type") == "channel_message"
                and f["data"].get("event") == "execution_complete"
                and f["data"].get("execution_id") == mine
            ),
        )
    feed = [f["data"] for f in frames if f.get("type") == "channel_message"]
    assert {data["execution_id"] for data in feed} == {mine}, feed
    assert all("bob" not in str(data) for data in feed)


async def test_the_same_user_sees_its_runs_from_another_connection(
    no_orgs: GatewayThread,
) -> None:
    async with (
        native(no_orgs.url + f"?token={TOKEN_ALICE}") as watcher,
        native(no_orgs.url + f"?token={TOKEN_ALICE}") as runner,
    ):
        await send(watcher, {"type": "channel.subscribe", "channel": "executions"})
        await until(watcher, of_type("channel.subscribed"))
        execution_id = await execute(runner, "echo", "hello")
        frames = await until(watcher, lambda f: f.get("type") == "channel_message")
    assert frames[-1]["data"]["execution_id"] == execution_id
