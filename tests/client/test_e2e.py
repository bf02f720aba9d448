"""AsyncPushClient end to end against a real gateway (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from support import SHORT, WAIT, Recorder, wait_until

from praison_push.client import (
    AsyncPushClient,
    AuthenticationFailed,
    ChannelMessage,
    RequestRefused,
)
from praison_push.config import AuthConfig, GatewayConfig
from praison_push.server import GatewayThread

from .helpers import Connect, started


async def test_two_clients_publish_and_subscribe(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    received = Recorder()
    await alice.subscribe("chat", received)
    receipt = await bob.publish("chat", {"text": "hi"})
    assert receipt.delivered == 1
    (message,) = await received.wait()
    assert isinstance(message, ChannelMessage)
    assert message.channel == "chat"
    assert message.data == {"text": "hi"}
    assert message.source == bob.client_id
    assert message.event_id == receipt.event_id
    assert message.offset == receipt.offset
    assert message.epoch


async def test_publish_with_the_same_id_is_delivered_once(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    received = Recorder()
    await alice.subscribe("once", received)
    first = await bob.publish("once", 1, id="same")
    second = await bob.publish("once", 1, id="same")
    await bob.publish("once", 2)
    await received.wait(2)
    assert [m.data for m in received.calls] == [1, 2]
    assert second.event_id == first.event_id


async def test_presence_join_and_leave_are_seen_by_the_other_client(connect: Connect) -> None:
    alice = await connect()
    joins, leaves = Recorder(), Recorder()
    alice.on("presence_join")(joins)
    alice.on("presence_leave")(leaves)
    await alice.subscribe("room")
    bob = await connect()
    await bob.subscribe("room")
    (join,) = await joins.wait()
    assert join["channel"] == "room"
    assert join["data"]["client_id"] == bob.client_id
    await bob.disconnect()
    (leave,) = await leaves.wait()
    assert leave["data"]["client_id"] == bob.client_id


async def test_get_presence_lists_both_clients_with_their_statuses(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    listed = Recorder()
    alice.on("presence_list")(listed)
    await alice.subscribe("room")
    await bob.subscribe("room")
    await alice.set_status("available", {"role": "agent"})
    await bob.set_status("busy")
    presence = {p.client_id: p for p in await alice.get_presence("room")}
    assert set(presence) == {alice.client_id, bob.client_id}
    assert presence[alice.client_id].status == "available"
    assert presence[alice.client_id].metadata == {"role": "agent"}
    assert presence[bob.client_id].status == "busy"
    (event,) = await listed.wait()
    assert {c["client_id"] for c in event["clients"]} == set(presence)
    everyone = {p.client_id for p in await alice.get_presence()}
    assert {alice.client_id, bob.client_id} <= everyone


async def test_wait_for_times_out_and_then_receives(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    with pytest.raises(asyncio.TimeoutError):
        await alice.wait_for("quiet", timeout=SHORT)
    assert "quiet" in alice.subscriptions  # a timed-out wait_for stays subscribed
    waiting = await started(alice.wait_for("quiet", timeout=WAIT))
    await bob.publish("quiet", "now")
    assert (await waiting).data == "now"


async def test_channels_list_and_history(connect: Connect) -> None:
    client = await connect()
    await client.create_channel("log", {"kind": "audit"})
    for n in range(3):
        await client.publish("log", n)
    assert "log" in await client.list_channels()
    history = await client.history("log")
    assert [m.data for m in history] == [0, 1, 2]
    assert [m.data for m in await client.history("log", since=history[0])] == [1, 2]
    assert [m.data for m in await client.history("log", since=history[0], limit=1)] == [1]


async def test_messages_iterates_a_channel(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    async with alice.messages("feed") as stream:
        for n in range(3):
            await bob.publish("feed", n)
        assert [(await stream.get(timeout=WAIT)).data for _ in range(3)] == [0, 1, 2]


async def test_refused_request_raises(connect: Connect) -> None:
    client = await connect()
    with pytest.raises(RequestRefused) as caught:
        await client.publish("$dead-letter", 1)
    assert caught.value.code == "forbidden"  # "$" channels are the gateway's


async def test_bad_token_is_refused_without_reconnecting(
    gateway_factory: Callable[..., GatewayThread],
) -> None:
    gateway = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=["right"])))
    client = AsyncPushClient(gateway.url, auth_token="wrong", request_timeout=WAIT)
    with pytest.raises(AuthenticationFailed):
        await client.connect()
    await asyncio.wait_for(client.wait_closed(), WAIT)
    async with AsyncPushClient(gateway.url, auth_token="right") as good:
        assert good.is_connected


async def test_client_reconnects_after_a_gateway_restart_and_resubscribes(
    gateway: GatewayThread, connect: Connect
) -> None:
    alice = await connect()
    events = Recorder()
    for name in ("connected", "disconnected", "reconnecting"):
        alice.on(name)(lambda payload, name=name: events((name, payload)))
    received = Recorder()
    await alice.subscribe("news", received)
    await alice.set_status("watching")
    client_id = alice.client_id

    await asyncio.to_thread(gateway.stop)
    await wait_until(lambda: any(name == "reconnecting" for name, _ in events.calls))
    assert not alice.is_connected
    await asyncio.to_thread(gateway.start)
    await wait_until(lambda: [name for name, _ in events.calls].count("connected") == 1)
    await wait_until(lambda: alice.is_connected)
    names = [name for name, _ in events.calls]
    assert names[0] == "disconnected"
    assert "reconnecting" in names
    assert alice.client_id == client_id

    bob = await connect()
    await wait_until(lambda: "news" in _subscribed_channels(gateway, client_id))
    await bob.publish("news", "after restart")
    (message,) = await received.wait()
    assert message.data == "after restart"

    # The status is re-sent after the resubscribes.
    await wait_until(lambda: _presence_of(gateway, client_id).get("status") == "watching")
    presence = {p.client_id: p.status for p in await bob.get_presence()}
    assert presence[client_id] == "watching"


def _presence_of(gateway: GatewayThread, client_id: str) -> dict[str, Any]:
    """``client_id``'s presence entry as the gateway holds it (empty while unknown)."""
    hub = gateway.gateway.hub if gateway.gateway is not None else None
    if hub is None:
        return {}
    entries = gateway.call(lambda: hub.presence(None))
    return next((dict(e) for e in entries if e["client_id"] == client_id), {})


def _subscribed_channels(gateway: GatewayThread, client_id: str) -> set[str]:
    return set(_presence_of(gateway, client_id).get("channels", []))


async def test_a_message_over_the_gateways_limit_is_refused_here_and_the_client_lives(
    connect: Connect,
) -> None:
    from praison_push.client import FrameError

    client = await connect()
    with pytest.raises(FrameError) as caught:
        await client.publish("big", {"blob": "x" * 100_000})
    assert caught.value.code.value == "too_large" and caught.value.limit == "max_message_size"
    assert "message too large: 100," in str(caught.value)
    assert "limit is 64 KiB (65,536 bytes)" in str(caught.value)
    assert client.is_connected  # nothing was sent: the connection was not closed with 1009
    assert (await client.publish("big", {"blob": "small"})).channel == "big"


async def test_an_sse_client_gets_text_with_unicode_line_separators(connect: Connect) -> None:
    # The gateway keeps U+2028/U+0085 raw in its JSON; the SSE transport must not split there.
    reader, writer = await connect(transports=["sse"]), await connect()
    assert reader.transport == "sse"
    received = Recorder()
    await reader.subscribe("lines", received)
    text = "one\u2028two\x85three\u2029four"
    await writer.publish("lines", {"text": text})
    (message,) = await received.wait()
    assert message.data == {"text": text}
