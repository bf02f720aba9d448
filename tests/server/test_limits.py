"""Every LimitsConfig limit, enforced end to end (PROTOCOL.md §7)."""

from __future__ import annotations

import asyncio
import json
import secrets

from support import ask, closed_with, dial, expect, raw_client, timeout, wait_until, works

from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig, TokenGrant
from praison_push.protocol import CloseCode, should_reconnect
from praison_push.server import GatewayThread

from .helpers import Serve, messages


async def wait_for_connections(gateway: GatewayThread, count: int) -> None:
    """Wait until the hub has exactly ``count`` connections (disconnects are asynchronous)."""
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    await wait_until(lambda: len(hub.connections) == count, 3, what=f"{count} connections")


async def refused_for(url: str, limit: str, maximum: int, **kwargs: object) -> None:
    """Connect to ``url`` and check the refusal: ``limit_exceeded`` naming ``limit``, then 4008."""
    async with dial(url, **kwargs) as ws:
        error = await expect(ws, "error", code="limit_exceeded")
        assert error["details"] == {"limit": limit, "max": maximum}
        assert limit in error["message"]
        assert await closed_with(ws) == CloseCode.CONNECTION_LIMIT
    assert not should_reconnect(CloseCode.CONNECTION_LIMIT)


async def test_max_connections(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(max_connections=2))
    async with raw_client(gateway.url) as first, raw_client(gateway.url):
        await refused_for(gateway.url, "max_connections", 2)
        await works(first)
    await wait_for_connections(gateway, 0)
    async with raw_client(gateway.url) as again:  # released slots are reusable
        await works(again)


async def test_max_connections_per_ip(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(max_connections_per_ip=2, loopback_exempt=False))
    async with raw_client(gateway.url), raw_client(gateway.url) as second:
        await refused_for(gateway.url, "max_connections_per_ip", 2)
        await works(second)


async def test_loopback_is_exempt_from_the_per_ip_limit_by_default(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(max_connections_per_ip=1))
    async with (
        raw_client(gateway.url) as first,
        raw_client(gateway.url) as second,
        raw_client(gateway.url),
    ):
        await works(first)
        await works(second)


def grants(*entries: tuple[str, str | None, str | None]) -> AuthConfig:
    return AuthConfig(
        tokens=[TokenGrant(token=token, user_id=user, org_id=org) for token, user, org in entries]
    )


async def test_max_connections_per_user(serve: Serve) -> None:
    config = GatewayConfig(
        auth=grants(("alice-token", "alice", None), ("bob-token", "bob", None)),
        limits=LimitsConfig(max_connections_per_user=1),
    )
    gateway = serve(config)
    alice_url = gateway.url + "?token=alice-token"
    async with raw_client(alice_url) as alice:
        await refused_for(alice_url, "max_connections_per_user", 1)
        header = {"Authorization": "Bearer alice-token"}
        await refused_for(gateway.url, "max_connections_per_user", 1, additional_headers=header)
        async with raw_client(gateway.url + "?token=bob-token") as bob:
            await works(bob)
        await works(alice)
    await wait_for_connections(gateway, 0)
    async with raw_client(alice_url) as alice_again:
        await works(alice_again)


async def test_max_connections_per_org(serve: Serve) -> None:
    config = GatewayConfig(
        auth=grants(
            ("a-token", "a", "acme"),
            ("b-token", "b", "acme"),
            ("c-token", "c", "acme"),
            ("x-token", "x", "globex"),
        ),
        limits=LimitsConfig(max_connections_per_org=2),
    )
    gateway = serve(config)
    async with (
        raw_client(gateway.url + "?token=a-token"),
        raw_client(gateway.url + "?token=b-token"),
    ):
        await refused_for(gateway.url + "?token=c-token", "max_connections_per_org", 2)
        async with raw_client(gateway.url + "?token=x-token") as other_org:
            await works(other_org)


async def test_anonymous_shared_token_is_not_a_user(serve: Serve) -> None:
    # A shared static token has no identity: per-user limits do not apply (PROTOCOL.md §7).
    config = GatewayConfig(
        auth=AuthConfig(tokens=["shared"]), limits=LimitsConfig(max_connections_per_user=1)
    )
    gateway = serve(config)
    async with (
        raw_client(gateway.url + "?token=shared") as a,
        raw_client(gateway.url + "?token=shared") as b,
    ):
        await works(a)
        await works(b)


async def test_max_subscriptions_per_connection(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(max_subscriptions_per_connection=2))
    async with raw_client(gateway.url) as ws:
        await ask(ws, "channel.subscribe", channel="a")
        await ask(ws, "channel.subscribe", channel="b")
        error = await ask(ws, "channel.subscribe", channel="c", ref="third")
        assert (error["type"], error["code"], error["ref"]) == ("error", "limit_exceeded", "third")
        assert error["details"] == {"limit": "max_subscriptions_per_connection", "max": 2}
        await works(ws)


async def test_max_channels(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(max_channels=2))
    async with raw_client(gateway.url) as ws:
        await ask(ws, "channel.create", channel="a")
        await ask(ws, "channel.subscribe", channel="b")
        # A publish to a channel nobody listens to leaves no channel behind…
        assert (await ask(ws, "channel.publish", channel="x", data=1))["delivered"] == 0
        error = await ask(ws, "channel.subscribe", channel="c")
        assert (error["code"], error["details"]) == (
            "limit_exceeded",
            {"limit": "max_channels", "max": 2},
        )
        assert (await ask(ws, "channel.publish", channel="a", data=1))[
            "type"
        ] == "channel.published"


async def test_idle_timeout_closes_4002(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(idle_timeout=0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()  # before connecting: quiet cannot be closed sooner than 0.2 s later
    async with raw_client(gateway.url) as quiet, raw_client(gateway.url) as chatty:
        code_task = asyncio.ensure_future(closed_with(quiet, seconds=5))
        # chatty keeps talking past quiet's deadline and survives it.
        while not code_task.done():
            await works(chatty)
            await asyncio.wait({code_task}, timeout=0.05)  # a ping every 50 ms meanwhile
        assert code_task.result() == CloseCode.IDLE_TIMEOUT
        assert should_reconnect(CloseCode.IDLE_TIMEOUT)
        assert loop.time() - started >= 0.18
        await works(chatty)


async def test_send_queue_max_frames_closes_1013(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(send_queue_max_frames=8))
    async with raw_client(gateway.url) as publisher, raw_client(gateway.url) as reader:
        for n in range(20):
            await ask(publisher, "channel.publish", channel="c", data=n)
        epoch = gateway.gateway.hub.history.epoch  # type: ignore[union-attr]
        # A replay of 20 frames cannot fit a queue of 8: the gateway gives up on the reader,
        # which reconnects and catches up with a smaller step (channel.history/limit).
        await reader.send(
            json.dumps(
                {
                    "type": "channel.subscribe",
                    "channel": "c",
                    "since": {"offset": 0, "epoch": epoch},
                }
            )
        )
        assert await closed_with(reader) == CloseCode.SLOW_CONSUMER
        assert should_reconnect(CloseCode.SLOW_CONSUMER)
        await works(publisher)


async def test_a_replay_past_send_queue_max_bytes_goes_out_in_pages(serve: Serve) -> None:
    # Before paging, this replay overflowed the 4 KB queue and was cut with 1013 (and
    # the client, recovering the same gap again, was cut again, forever).
    gateway = serve(limits=LimitsConfig(send_queue_max_bytes=4096))
    async with raw_client(gateway.url) as publisher, raw_client(gateway.url) as reader:
        for n in range(8):
            await ask(publisher, "channel.publish", channel="c", data=f"{n}" + "x" * 700)
        epoch = gateway.gateway.hub.history.epoch  # type: ignore[union-attr]
        since = {"offset": 0, "epoch": epoch}
        subscribed = await ask(reader, "channel.subscribe", channel="c", since=since)
        assert subscribed["recovered"] is True
        replayed = await messages(reader, 8)
        assert [m["data"][0] for m in replayed] == [str(n) for n in range(8)]
        await works(reader)


async def test_a_reader_that_stops_reading_is_cut_off(serve: Serve) -> None:
    # A real slow consumer: it stops reading, TCP backs up, the outbox fills, 1013.
    gateway = serve(limits=LimitsConfig(send_queue_max_frames=16))
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    payload = secrets.token_urlsafe(45_000)  # incompressible: the socket really fills up
    async with (
        raw_client(gateway.url) as publisher,
        dial(gateway.url, max_queue=1, compression=None) as stalled,
    ):
        await expect(stalled, "connected")
        await ask(stalled, "channel.subscribe", channel="firehose")
        session = next(s for s in hub.connections.values() if s.subscriptions)
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout(15)
        while not session.closing:
            assert loop.time() < deadline, f"still open after {sent} frames"
            await publisher.send(
                json.dumps({"type": "channel.publish", "channel": "firehose", "data": payload})
            )
            await expect(publisher, "channel.published")
            sent += 1
        assert session.close_code == CloseCode.SLOW_CONSUMER
        assert await closed_with(stalled, seconds=10) == CloseCode.SLOW_CONSUMER
        await works(publisher)
