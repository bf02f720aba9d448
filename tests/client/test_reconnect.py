"""Reconnecting: backoff, lifecycle events, resubscribe with ``since``, re-sent requests,
terminal close codes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from support import SHORT, WAIT, Recorder, wait_until

from praison_push.client import (
    AsyncPushClient,
    Backoff,
    ChannelMessage,
    ConnectionClosedError,
    NotConnectedError,
    TransportError,
)
from praison_push.testing import (
    MemoryTransport,
    MemoryTransportFactory,
    ScriptedGateway,
    channel_message,
    greeting,
)

from .helpers import FAST_BACKOFF, make_client, started


async def test_drop_fires_events_reconnects_and_resubscribes_with_since(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory, client_id="stable")
    events: list[tuple[str, Any]] = []
    reconnected = asyncio.Event()
    for name in ("connected", "disconnected", "reconnecting"):
        client.on(name)(lambda payload, name=name: events.append((name, payload)))
    client.on("connected")(lambda _: reconnected.set() if len(events) > 1 else None)
    received = Recorder()
    await client.connect()
    try:
        await client.subscribe("a", received)
        await client.subscribe("b")
        await client.set_status("busy", {"desk": 4})
        first = factory.last
        first.feed(channel_message("a", 1, event_id="e1", offset=5, epoch="memory-1"))
        await received.wait()

        first.close(1012, "service restart")
        await asyncio.wait_for(reconnected.wait(), WAIT)
        second = await factory.wait_for_transport(1)
        subscribes = [await second.next_sent("channel.subscribe") for _ in range(2)]
        assert {s["channel"]: s.get("since") for s in subscribes} == {
            "a": {"offset": 5, "epoch": "memory-1"},
            "b": {"offset": 0, "epoch": "memory-1"},
        }
        heartbeat = await second.next_sent("presence.heartbeat")
        assert (heartbeat["status"], heartbeat["metadata"]) == ("busy", {"desk": 4})
        assert [c[2] for c in factory.calls] == ["stable", "stable"]

        names = [name for name, _ in events]
        assert names == ["connected", "disconnected", "reconnecting", "connected"]
        assert events[1][1] == {"code": 1012, "reason": "service restart"}
        assert events[2][1] == {"attempt": 1, "delay": FAST_BACKOFF.delay(0, 0.0)}

        # Replayed and new messages keep flowing to the same callback, once each.
        second.feed(channel_message("a", 1, event_id="e1", offset=5, epoch="memory-1"))
        second.feed(channel_message("a", 2, event_id="e2", offset=6, epoch="memory-1"))
        await received.wait(2)
        assert [m.event_id for m in received.calls] == ["e1", "e2"]
        await wait_until(lambda: second.sent_of("message_ack") != [])
    finally:
        await client.disconnect()


async def test_backoff_grows_between_failed_attempts() -> None:
    factory = MemoryTransportFactory(
        responder=ScriptedGateway(),
        connect_errors=[None, TransportError("down"), TransportError("down"), None],
    )
    backoff = Backoff(initial=0.001, maximum=0.004, factor=2.0, jitter=0.0)
    client = make_client(factory, backoff=backoff)
    attempts = Recorder()
    client.on("reconnecting")(attempts)
    await client.connect()
    try:
        factory.last.close(None)
        await wait_until(lambda: client.is_connected and len(factory.transports) == 4)
        assert [(a["attempt"], a["delay"]) for a in attempts.calls] == [
            (1, 0.001),
            (2, 0.002),
            (3, 0.004),
        ]
    finally:
        await client.disconnect()


async def test_in_flight_request_is_resent_after_reconnect(
    factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    client = make_client(factory)
    await client.connect()
    try:
        scripted.hold.add("channel.publish")
        publish = asyncio.ensure_future(client.publish("a", {"n": 1}))
        sent = await factory.last.next_sent("channel.publish")
        scripted.hold.clear()
        factory.last.close(1006)
        second = await factory.wait_for_transport(1)
        resent = await second.next_sent("channel.publish")
        assert resent == sent  # same ref, same idempotency id
        receipt = await asyncio.wait_for(publish, WAIT)
        assert receipt.channel == "a"
    finally:
        await client.disconnect()


async def test_request_made_while_reconnecting_waits_for_the_connection(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory)
    await client.connect()
    try:
        factory.greet = None  # the next connection stays silent until the test greets
        factory.last.close(1006)
        second = await factory.wait_for_transport(1)
        publish = await started(client.publish("a", 1))
        assert second.sent == []
        assert not client.is_connected
        second.feed(greeting(client.client_id))
        assert (await asyncio.wait_for(publish, WAIT)).channel == "a"
        assert len(second.sent_of("channel.publish")) == 1
    finally:
        await client.disconnect()


async def test_request_made_while_reconnecting_gives_up_with_not_connected() -> None:
    factory = MemoryTransportFactory(responder=ScriptedGateway())
    client = make_client(factory, request_timeout=SHORT)
    await client.connect()
    try:
        factory.connect_errors = [TransportError("down")] * 10_000
        factory.last.close(1006)
        with pytest.raises(NotConnectedError, match="no connection"):
            await client.publish("a", 1)
    finally:
        await client.disconnect()


async def cut_off_in_flight(kind: str, request: Callable[[AsyncPushClient], Any]) -> BaseException:
    """Send a request the gateway holds, drop the connection for good, return the error."""
    scripted = ScriptedGateway()
    scripted.hold.add(kind)
    factory = MemoryTransportFactory(responder=scripted)
    client = make_client(factory, request_timeout=SHORT)
    await client.connect()
    try:
        pending = asyncio.ensure_future(request(client))
        await factory.last.next_sent(kind)
        factory.connect_errors = [TransportError("down")] * 10_000
        factory.last.close(1006)
        with pytest.raises(NotConnectedError) as caught:
            await pending
        return caught.value
    finally:
        await client.disconnect()


async def test_in_flight_request_gives_up_with_not_connected_while_reconnecting() -> None:
    error = await cut_off_in_flight("channel.list", lambda client: client.list_channels())
    assert "channel.list not answered: no connection to the gateway" in str(error)
    assert "published" not in str(error)  # only a publish says how to retry it safely


async def test_a_publish_cut_off_in_flight_names_its_id_for_a_safe_retry() -> None:
    error = await cut_off_in_flight(
        "channel.publish", lambda client: client.publish("a", 1, id="my-key")
    )
    assert "may have been published already" in str(error)
    assert "id='my-key'" in str(error)


@pytest.mark.parametrize("code", [1000, 1008, 1009, 4001, 4003, 4008, 4029])
async def test_terminal_close_ends_the_client(
    factory: MemoryTransportFactory, scripted: ScriptedGateway, code: int
) -> None:
    client = make_client(factory)
    disconnected = Recorder()
    client.on("disconnected")(disconnected)
    await client.connect()
    scripted.hold.add("channel.list")
    listing = asyncio.ensure_future(client.list_channels())
    await factory.last.next_sent("channel.list")
    factory.last.close(code, "bye")
    await asyncio.wait_for(client.wait_closed(), WAIT)
    assert len(factory.transports) == 1
    assert client.close_code == code
    assert disconnected.calls == [{"code": code, "reason": "bye"}]
    with pytest.raises(ConnectionClosedError) as caught:
        await listing
    assert caught.value.code == code
    with pytest.raises(NotConnectedError):
        await client.publish("a", 1)


async def test_auto_reconnect_off_ends_the_client_on_any_drop(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory, auto_reconnect=False)
    await client.connect()
    factory.last.close(1006)
    await asyncio.wait_for(client.wait_closed(), WAIT)
    assert len(factory.transports) == 1


async def test_gives_up_after_max_reconnect_attempts(caplog: pytest.LogCaptureFixture) -> None:
    factory = MemoryTransportFactory(connect_errors=[None] + [TransportError("down")] * 3)
    client = make_client(factory, max_reconnect_attempts=3)
    attempts = Recorder()
    client.on("reconnecting")(attempts)
    await client.connect()
    with caplog.at_level(logging.WARNING, "praison_push.client"):
        factory.last.close(1006)
        await asyncio.wait_for(client.wait_closed(), WAIT)
    assert [a["attempt"] for a in attempts.calls] == [1, 2, 3]
    assert "gave up reconnecting after 3 attempts" in caplog.text
    assert client.close_code == 1006


async def test_authentication_failure_while_reconnecting_is_terminal() -> None:
    greetings = iter(
        [greeting("me"), {"type": "hello_error", "code": "auth_required", "message": "expired"}]
    )
    factory = MemoryTransportFactory(greet=lambda _: next(greetings))
    client = make_client(factory)
    await client.connect()
    factory.last.close(1006)
    await asyncio.wait_for(client.wait_closed(), WAIT)
    assert client.close_code == 4003
    assert len(factory.transports) == 2


async def test_a_failing_custom_transport_is_treated_as_a_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Flaky(MemoryTransport):
        async def receive(self) -> dict[str, Any]:
            frame = await super().receive()
            if frame.get("type") == "explode":
                raise OSError("socket gone")
            return frame

    transports: list[Flaky] = []

    def factory(url: str, auth_token: str | None, *, client_id: str) -> Flaky:
        transport = Flaky(greeting=greeting(client_id), responder=ScriptedGateway())
        transports.append(transport)
        return transport

    client = AsyncPushClient(
        "ws://x/ws", transport_factory=factory, backoff=FAST_BACKOFF, request_timeout=WAIT
    )
    await client.connect()
    try:
        with caplog.at_level(logging.WARNING, "praison_push.client"):
            transports[0].feed({"type": "explode"})
            await wait_until(lambda: len(transports) == 2 and client.is_connected)
        assert "socket gone" in caplog.text
    finally:
        await client.disconnect()


async def test_transport_error_on_receive_is_treated_as_a_drop() -> None:
    class Broken(MemoryTransport):
        async def receive(self) -> dict[str, Any]:
            frame = await super().receive()
            if frame.get("type") == "break":
                raise TransportError("broken pipe")
            return frame

    transports: list[Broken] = []

    def factory(url: str, auth_token: str | None, *, client_id: str) -> Broken:
        transports.append(Broken(greeting=greeting(client_id)))
        return transports[-1]

    client = AsyncPushClient("ws://x/ws", transport_factory=factory, backoff=FAST_BACKOFF)
    disconnected = Recorder()
    client.on("disconnected")(disconnected)
    await client.connect()
    try:
        transports[0].feed({"type": "break"})
        (event,) = await disconnected.wait()
        assert event == {"code": None, "reason": "broken pipe"}
        await wait_until(lambda: client.is_connected)
    finally:
        await client.disconnect()


async def test_disconnect_while_reconnecting_stops_for_good() -> None:
    def failing_factory() -> MemoryTransportFactory:
        return MemoryTransportFactory(connect_errors=[None] + [TransportError("down")] * 10_000)

    factory, witness_factory = failing_factory(), failing_factory()
    client, witness = (
        make_client(f, backoff=Backoff(initial=0.01, maximum=0.01))
        for f in (factory, witness_factory)
    )
    attempts, witnessed = Recorder(), Recorder()
    client.on("reconnecting")(attempts)
    witness.on("reconnecting")(witnessed)
    await client.connect()
    await witness.connect()
    try:
        factory.last.close(1006)
        witness_factory.last.close(1006)
        await attempts.wait(2)
        await client.disconnect()
        await asyncio.wait_for(client.wait_closed(), WAIT)
        assert client.close_code == 1000
        count, seen = len(factory.transports), len(witnessed)
        # The witness retries on the same schedule: by its third attempt from here,
        # a client still retrying would have dialled again too.
        await witnessed.wait(seen + 3)
        assert len(factory.transports) == count
    finally:
        await witness.disconnect()


async def test_acks_owed_when_the_connection_dropped_go_out_on_the_next_one(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory)
    release, entered = asyncio.Event(), asyncio.Event()

    handled = asyncio.Event()

    async def slow(_message: ChannelMessage) -> None:
        entered.set()
        await release.wait()
        handled.set()  # the dispatcher notes the delivery as this returns

    client.on("channel_message")(slow)
    await client.connect()
    try:
        factory.last.feed(channel_message("a", 1, event_id="owed"))
        await asyncio.wait_for(entered.wait(), WAIT)
        factory.greet = None
        factory.last.close(1006)
        second = await factory.wait_for_transport(1)
        release.set()  # handled while down: the ack waits for a connection
        await asyncio.wait_for(handled.wait(), WAIT)
        assert second.sent_of("message_ack") == []
        second.feed(greeting(client.client_id))
        ack = await second.next_sent("message_ack")
        assert ack["event_ids"] == ["owed"]
    finally:
        await client.disconnect()


async def test_refused_resubscribe_drops_the_channel(
    factory: MemoryTransportFactory, scripted: ScriptedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(factory)
    await client.connect()
    try:
        await client.subscribe("a")
        scripted.refuse["channel.subscribe"] = ("forbidden", "revoked")
        with caplog.at_level(logging.WARNING, "praison_push.client"):
            factory.last.close(1006)
            await wait_until(lambda: client.subscriptions == frozenset())
        assert "refused" in caplog.text
    finally:
        await client.disconnect()


async def test_resubscribe_failure_is_logged(
    factory: MemoryTransportFactory, scripted: ScriptedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(factory, request_timeout=SHORT)
    await client.connect()
    try:
        await client.subscribe("a")
        scripted.hold.add("channel.subscribe")
        with caplog.at_level(logging.WARNING, "praison_push.client"):
            factory.last.close(1006)
            await wait_until(lambda: "resubscribing to 'a' failed" in caplog.text)
        assert client.subscriptions == {"a"}
    finally:
        await client.disconnect()


async def test_lost_history_is_reported_and_the_new_epoch_adopted(
    factory: MemoryTransportFactory, scripted: ScriptedGateway, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(factory)
    received = Recorder()
    await client.connect()
    try:
        await client.subscribe("a", received)
        factory.last.feed(channel_message("a", 1, event_id="e1", offset=3, epoch="memory-1"))
        await received.wait()
        scripted.hold.add("channel.subscribe")
        with caplog.at_level(logging.WARNING, "praison_push.client"):
            factory.last.close(1012)
            second = await factory.wait_for_transport(1)
            sub = await second.next_sent("channel.subscribe")
            assert sub["since"] == {"offset": 3, "epoch": "memory-1"}
            second.feed(
                {"type": "channel.subscribed", "channel": "a", "offset": 0, "epoch": "new",
                 "recovered": False, "ref": sub["ref"]}
            )  # fmt: skip
            await wait_until(lambda: "no longer in history" in caplog.text)
        # Adopted: the next renewal asks for what follows the new epoch's start.
        second.close(1012)
        third = await factory.wait_for_transport(2)
        renewed = await third.next_sent("channel.subscribe")
        assert renewed["since"] == {"offset": 0, "epoch": "new"}
    finally:
        await client.disconnect()


async def test_a_fresh_connect_after_close_starts_without_subscriptions(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory)
    await client.connect()
    await client.subscribe("a", print)
    await client.disconnect()
    await client.connect()
    try:
        assert client.subscriptions == frozenset()
        assert factory.last.sent_of("channel.subscribe") == []
    finally:
        await client.disconnect()


async def test_a_buggy_transport_connect_is_retried_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    factory = MemoryTransportFactory(connect_errors=[None, RuntimeError("transport bug")])
    client = make_client(factory)
    await client.connect()
    try:
        with caplog.at_level(logging.WARNING, "praison_push.client"):
            factory.last.close(1006)
            await wait_until(lambda: len(factory.transports) == 3 and client.is_connected)
        assert "transport bug" in caplog.text
    finally:
        await client.disconnect()
