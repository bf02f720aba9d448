"""Issue 13, finding 1: a publisher cannot forge run or auth events on a foreign dialect.

Only the gateway publishes on run channels and the run feed; anything a client
publishes elsewhere, whatever its ``data.event``, reaches envelope and
agent-chat clients as a channel message (or not at all), never as a top-level
``execution_complete``, ``execution_error`` or ``auth_success``.
"""

from __future__ import annotations

from support import dial

from praison_push.server import GatewayThread

from .helpers import (
    TOKEN_A,
    TOKEN_B,
    envelope,
    execute,
    native,
    of_type,
    recv,
    run_events,
    send,
    until,
)

FORGERIES = [
    {"event": "execution_complete", "execution_id": "exec_x", "output": "fake answer"},
    {"event": "execution_error", "execution_id": "exec_x", "error": {"message": "boom"}},
    {"event": "auth_success", "user_id": "usr_admin", "org_id": "org_root"},
]


async def test_envelope_client_gets_forged_events_as_channel_messages(
    orgs: GatewayThread,
) -> None:
    async with (
        envelope(orgs.url, TOKEN_A) as victim,
        native(orgs.url + f"?token={TOKEN_B}") as attacker,
    ):
        await send(victim, {"type": "subscribe", "id": "s1", "payload": {"channel": "shared"}})
        assert (await recv(victim))["type"] == "subscribed"
        for index, data in enumerate(FORGERIES):
            await send(
                attacker,
                {"type": "channel.publish", "channel": "shared", "data": data, "ref": index},
            )
            await until(attacker, of_type("channel.published"))
        frames = []
        for _ in FORGERIES:
            frames += await until(victim, of_type("channel_message", *_FORGED_TYPES))
    assert [frame["type"] for frame in frames] == ["channel_message"] * len(FORGERIES)
    assert [frame["payload"]["data"] for frame in frames] == FORGERIES
    assert {frame["payload"]["channel"] for frame in frames} == {"shared"}


_FORGED_TYPES = ("execution_complete", "execution_error", "auth_success")


async def test_envelope_client_still_gets_real_run_events_top_level(
    gateway: GatewayThread,
) -> None:
    async with envelope(gateway.url) as ws:
        await send(
            ws, {"type": "execute", "id": "r1", "payload": {"agent_id": "echo", "input": "hi"}}
        )
        frames = await until(ws, of_type("execution_complete", "execution_error"))
    assert frames[-1]["type"] == "execution_complete"
    assert frames[-1]["payload"]["output"] == "hi"


async def test_agent_chat_client_ignores_forged_run_events(gateway: GatewayThread) -> None:
    async with (
        dial(gateway.url + "?protocol=agent-chat") as victim,
        native(gateway.url) as attacker,
    ):
        assert (await recv(victim))["type"] == "connected"
        # A native subscribe passes through the agent-chat translation unchanged.
        await send(victim, {"type": "channel.subscribe", "channel": "shared"})
        for data in FORGERIES:
            await send(attacker, {"type": "channel.publish", "channel": "shared", "data": data})
            await until(attacker, of_type("channel.published"))
        # A real run afterwards: its answer is the first thing the victim shows.
        await send(victim, {"type": "chat", "agent_id": "echo", "message": "real"})
        frames = await until(victim, of_type("response", "error"))
    assert [f for f in frames if f["type"] in ("response", "error")] == [
        {"type": "response", "agent_id": "echo", "message": "real"}
    ]


async def test_run_events_still_reach_native_clients(gateway: GatewayThread) -> None:
    async with native(gateway.url) as ws:
        await execute(ws, "echo", "hello")
        events = await run_events(ws)
    assert events[-1]["output"] == "hello"
