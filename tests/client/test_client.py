"""AsyncPushClient over the in-memory transport: lifecycle, requests, argument checks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from support import SHORT, WAIT, Recorder, wait_until

from praison_push.client import (
    AsyncPushClient,
    AuthenticationFailed,
    ChannelMessage,
    ConnectionClosedError,
    NotConnectedError,
    PresenceInfo,
    PublishReceipt,
    PushClient,
    RequestRefused,
    TransportError,
)
from praison_push.testing import (
    MemoryTransport,
    MemoryTransportFactory,
    ScriptedGateway,
    channel_message,
    greeting,
)

from .helpers import make_client, started

# --- connecting ----------------------------------------------------------------


async def test_connect_waits_for_the_greeting_and_fires_connected(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory, client_id="me")
    connected = Recorder()
    client.on("connected")(connected)
    assert not client.is_connected
    await client.connect()
    try:
        assert client.is_connected
        assert factory.calls == [("ws://gateway.test/ws", None, "me")]
        (frame,) = await connected.wait()
        assert frame["type"] == "connected"
        assert frame["client_id"] == "me"
    finally:
        await client.disconnect()
    assert not client.is_connected


async def test_client_id_defaults_to_a_fresh_hex_id(factory: MemoryTransportFactory) -> None:
    first, second = make_client(factory), make_client(factory)
    assert len(first.client_id) == 32
    int(first.client_id, 16)
    assert first.client_id != second.client_id


async def test_client_adopts_the_client_id_the_gateway_assigns() -> None:
    factory = MemoryTransportFactory(greet=lambda _: greeting("assigned"))
    client = make_client(factory, client_id="asked")
    await client.connect()
    try:
        assert client.client_id == "assigned"
    finally:
        await client.disconnect()


async def test_push_client_is_the_async_client() -> None:
    assert PushClient is AsyncPushClient


async def test_hello_error_raises_authentication_failed_without_reconnecting() -> None:
    factory = MemoryTransportFactory(
        greet=lambda _: {"type": "hello_error", "code": "auth_required", "message": "bad token"}
    )
    client = make_client(factory, auth_token="wrong")
    with pytest.raises(AuthenticationFailed) as caught:
        await client.connect()
    assert caught.value.code == "auth_required"
    assert "bad token" in str(caught.value)
    assert len(factory.transports) == 1
    assert not factory.last.is_connected
    await asyncio.wait_for(client.wait_closed(), WAIT)
    with pytest.raises(NotConnectedError, match="closed"):
        await client.publish("a", 1)


@pytest.mark.parametrize("code", [4001, 4003])
async def test_auth_close_before_the_greeting_raises_authentication_failed(code: int) -> None:
    factory = MemoryTransportFactory(greet=None)
    client = make_client(factory)

    async def close_soon() -> None:
        transport = await factory.wait_for_transport(0)
        transport.close(code, "auth")

    closer = asyncio.ensure_future(close_soon())
    with pytest.raises(AuthenticationFailed, match=str(code)):
        await client.connect()
    await closer


async def test_other_close_before_the_greeting_raises_connection_closed() -> None:
    factory = MemoryTransportFactory(greet=None)
    client = make_client(factory)

    async def close_soon() -> None:
        (await factory.wait_for_transport(0)).close(1011, "boom")

    closer = asyncio.ensure_future(close_soon())
    with pytest.raises(ConnectionClosedError) as caught:
        await client.connect()
    assert caught.value.code == 1011
    await closer


async def test_missing_greeting_times_out_as_a_transport_error() -> None:
    factory = MemoryTransportFactory(greet=None)
    client = AsyncPushClient(
        "ws://gateway.test/ws?token=s3cret", transport_factory=factory, request_timeout=SHORT
    )
    with pytest.raises(TransportError, match="no greeting") as caught:
        await client.connect()
    assert "s3cret" not in str(caught.value)
    assert not factory.last.is_connected


async def test_foreign_first_frame_counts_as_up_and_is_dispatched() -> None:
    factory = MemoryTransportFactory(greet=lambda _: {"type": "welcome", "motd": "hi"})
    client = make_client(factory)
    welcomed, connected = Recorder(), Recorder()
    client.on("welcome")(welcomed)
    client.on("connected")(connected)
    await client.connect()
    try:
        assert client.is_connected
        assert (await welcomed.wait())[0]["motd"] == "hi"
        assert (await connected.wait())[0] == {}
    finally:
        await client.disconnect()


async def test_malformed_frames_before_the_greeting_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    factory = MemoryTransportFactory(greet=None)
    client = make_client(factory)

    async def greet_late() -> None:
        transport = await factory.wait_for_transport(0)
        transport.feed("not json")
        transport.feed(greeting("x"))

    task = asyncio.ensure_future(greet_late())
    with caplog.at_level(logging.WARNING, "praison_push.client"):
        await client.connect()
    await task
    try:
        assert client.is_connected
        assert "malformed frame" in caplog.text
    finally:
        await client.disconnect()


async def test_connect_failure_propagates_and_closes_the_client() -> None:
    factory = MemoryTransportFactory(connect_errors=[TransportError("refused")])
    client = make_client(factory)
    with pytest.raises(TransportError, match="refused"):
        await client.connect()
    assert not client.is_connected
    await asyncio.wait_for(client.wait_closed(), WAIT)
    # A later connect() starts afresh.
    await client.connect()
    try:
        assert client.is_connected
    finally:
        await client.disconnect()


async def test_requests_before_connect_raise_not_connected(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory)
    with pytest.raises(NotConnectedError, match=r"connect\(\) first"):
        await client.subscribe("alerts")
    await asyncio.wait_for(client.wait_closed(), WAIT)  # nothing to wait for yet


async def test_connect_twice_is_a_no_op(client: AsyncPushClient, factory: Any) -> None:
    await client.connect()
    assert len(factory.transports) == 1


async def test_async_context_manager_connects_and_disconnects(
    factory: MemoryTransportFactory,
) -> None:
    async with make_client(factory) as client:
        assert client.is_connected
    assert not client.is_connected
    assert not factory.last.is_connected


async def test_disconnect_is_final_and_idempotent(factory: MemoryTransportFactory) -> None:
    client = make_client(factory)
    disconnected = Recorder()
    client.on("disconnected")(disconnected)
    await client.connect()
    await client.disconnect()
    await client.disconnect()
    await asyncio.wait_for(client.wait_closed(), WAIT)
    assert disconnected.calls == [{"code": 1000, "reason": "disconnected by client"}]
    assert client.close_code == 1000
    assert len(factory.transports) == 1
    with pytest.raises(NotConnectedError, match="closed"):
        await client.publish("a", 1)


async def test_disconnect_from_a_handler_does_not_deadlock(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    done = asyncio.Event()

    async def stop(_message: ChannelMessage) -> None:
        await client.disconnect()
        done.set()

    await client.subscribe("a", stop)
    factory.last.feed(channel_message("a", 1, event_id="e1", offset=1))
    await asyncio.wait_for(done.wait(), WAIT)
    await asyncio.wait_for(client.wait_closed(), WAIT)
    assert client.closed and client.close_code == 1000


async def test_repr_and_url_hide_the_token(client: AsyncPushClient) -> None:
    assert "s3cret" not in repr(client)
    assert "s3cret" not in client.url
    assert client.client_id in repr(client)
    assert "open" in repr(client)


def test_fallback_to_polling_is_stored() -> None:
    assert AsyncPushClient("ws://x/ws", fallback_to_polling=False).fallback_to_polling is False
    assert AsyncPushClient("ws://x/ws").fallback_to_polling is True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": ""}, "url"),
        ({"url": "ws://x", "client_id": ""}, "client_id"),
        ({"url": "ws://x", "request_timeout": 0}, "request_timeout"),
        ({"url": "ws://x", "max_reconnect_attempts": -1}, "max_reconnect_attempts"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AsyncPushClient(**kwargs)


# --- requests ----------------------------------------------------------------------


async def test_replies_are_matched_by_ref_in_any_order(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.hold.add("channel.publish")
    first = asyncio.ensure_future(client.publish("a", 1))
    second = asyncio.ensure_future(client.publish("b", 2))
    transport = factory.last
    frame_a = await transport.next_sent("channel.publish")
    frame_b = await transport.next_sent("channel.publish")
    assert frame_a["ref"] != frame_b["ref"]
    for frame, event_id in ((frame_b, "eb"), (frame_a, "ea")):
        transport.feed(
            {
                "type": "channel.published",
                "ref": frame["ref"],
                "channel": frame["channel"],
                "delivered": 3,
                "event_id": event_id,
                "offset": 7,
            }
        )
    receipt_a, receipt_b = await asyncio.wait_for(asyncio.gather(first, second), WAIT)
    assert receipt_a == PublishReceipt(channel="a", event_id="ea", delivered=3, offset=7)
    assert receipt_b.event_id == "eb"


async def test_error_reply_raises_request_refused_with_details(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.hold.add("channel.publish")
    task = asyncio.ensure_future(client.publish("a", 1))
    frame = await factory.last.next_sent("channel.publish")
    factory.last.feed(
        {
            "type": "error",
            "ref": frame["ref"],
            "code": "rate_limited",
            "message": "slow down",
            "details": {"limit": "publish_rate"},
            # Past request_timeout: the client does not wait it out (it would for less).
            "retry_after": 600,
        }
    )
    with pytest.raises(RequestRefused) as caught:
        await asyncio.wait_for(task, WAIT)
    assert caught.value.code == "rate_limited"
    assert caught.value.message == "slow down"
    assert caught.value.details == {"limit": "publish_rate", "retry_after": 600}


async def test_unanswered_request_times_out_and_a_late_reply_is_ignored(
    factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.hold.add("channel.list")
    client = make_client(factory, request_timeout=SHORT)
    await client.connect()
    try:
        with pytest.raises(asyncio.TimeoutError, match=r"channel\.list"):
            await client.list_channels()
        frame = factory.last.sent_of("channel.list")[0]
        factory.last.feed({"type": "channel.list", "ref": frame["ref"], "channels": ["late"]})
        scripted.hold.clear()
        assert await client.list_channels() == []
    finally:
        await client.disconnect()


async def test_publish_always_sends_an_idempotency_id(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    await client.publish("a", {"x": 1})
    await client.publish("a", {"x": 2}, id="mine")
    generated, given = factory.last.sent_of("channel.publish")
    assert len(generated["id"]) == 32
    assert given["id"] == "mine"
    assert given["data"] == {"x": 2}


async def test_publish_rejects_bad_arguments_before_sending(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    with pytest.raises(ValueError, match="channel"):
        await client.publish("no spaces", 1)
    with pytest.raises(ValueError, match="channel"):
        await client.publish("trailing-newline\n", 1)
    with pytest.raises(TypeError, match="channel"):
        await client.publish(42, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="id"):
        await client.publish("a", 1, id="")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        await client.publish("a", {1, 2})
    assert factory.last.sent_of("channel.publish") == []


async def test_channel_verbs(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    await client.create_channel("news", {"owner": "me"})
    assert factory.last.sent_of("channel.create")[0]["metadata"] == {"owner": "me"}
    await client.publish("news", 1)
    assert await client.list_channels() == ["news"]
    assert await client.history("news") == []
    with pytest.raises(TypeError, match="metadata"):
        await client.create_channel("news", ["not", "a", "dict"])  # type: ignore[arg-type]


async def test_history_sends_since_and_limit_and_returns_messages(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.hold.add("channel.history")
    since = ChannelMessage(channel="a", event_id="e3", offset=3, epoch="ep")
    task = asyncio.ensure_future(client.history("a", since=since, limit=10))
    frame = await factory.last.next_sent("channel.history")
    assert frame["since"] == {"offset": 3, "epoch": "ep"}
    assert frame["limit"] == 10
    factory.last.feed(
        {
            "type": "channel.history",
            "ref": frame["ref"],
            "channel": "a",
            "messages": [channel_message("a", n, event_id=f"e{n}", offset=n) for n in (4, 5)],
            "offset": 5,
            "epoch": "ep",
        }
    )
    messages = await asyncio.wait_for(task, WAIT)
    assert [m.data for m in messages] == [4, 5]
    assert messages[0].offset == 4

    task = asyncio.ensure_future(client.history("a", since={"offset": 0, "epoch": "ep"}))
    frame = await factory.last.next_sent("channel.history")
    assert frame["since"] == {"offset": 0, "epoch": "ep"}
    assert "limit" not in frame
    factory.last.feed({"type": "channel.history", "ref": frame["ref"], "messages": None})
    assert await asyncio.wait_for(task, WAIT) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 0}, ValueError),
        ({"limit": 10_001}, ValueError),
        ({"limit": True}, TypeError),
        ({"since": {"offset": -1, "epoch": "e"}}, ValueError),
        ({"since": {"offset": 1}}, ValueError),
        ({"since": ChannelMessage(channel="a")}, ValueError),
        ({"since": 5}, TypeError),
    ],
)
async def test_history_rejects_bad_arguments(
    client: AsyncPushClient, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await client.history("a", **kwargs)


async def test_presence_verbs_and_presence_list_event(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    listed = Recorder()
    client.on("presence_list")(listed)
    await client.set_status("available", {"role": "agent"})
    heartbeat = factory.last.sent_of("presence.heartbeat")[0]
    assert heartbeat["status"] == "available"
    assert heartbeat["metadata"] == {"role": "agent"}
    presence = await client.get_presence()
    assert presence == [
        PresenceInfo(client_id="client-0", status="available", metadata={"role": "agent"})
    ]
    assert presence[0]["status"] == "available"  # seed-style indexing
    (event,) = await listed.wait()
    assert event["clients"][0]["status"] == "available"
    assert event["channel"] is None
    await client.get_presence("room")
    assert factory.last.sent_of("presence.query")[-1]["channel"] == "room"
    with pytest.raises(ValueError, match="status"):
        await client.set_status("")
    with pytest.raises(ValueError, match="channel"):
        await client.get_presence("bad channel")


async def test_malformed_replies_give_empty_results(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.hold.update({"presence.query", "channel.list"})
    presence = asyncio.ensure_future(client.get_presence())
    channels = asyncio.ensure_future(client.list_channels())
    for kind in ("presence.query", "channel.list"):
        frame = await factory.last.next_sent(kind)
        factory.last.feed({"type": "reply", "ref": frame["ref"]})
    assert await asyncio.wait_for(presence, WAIT) == []
    assert await asyncio.wait_for(channels, WAIT) == []


async def test_status_is_resent_by_the_heartbeat_loop() -> None:
    scripted = ScriptedGateway()
    factory = MemoryTransportFactory(
        greet=lambda cid: greeting(cid, heartbeat_interval=0.01), responder=scripted
    )
    client = make_client(factory)
    await client.connect()
    try:
        await client.set_status("busy")
        await wait_until(lambda: len(factory.last.sent_of("presence.heartbeat")) >= 3)
        assert {f["status"] for f in factory.last.sent_of("presence.heartbeat")} == {"busy"}
    finally:
        await client.disconnect()


async def test_no_heartbeat_before_a_status_is_set() -> None:
    def ticking() -> MemoryTransportFactory:
        return MemoryTransportFactory(
            greet=lambda cid: greeting(cid, heartbeat_interval=0.001), responder=ScriptedGateway()
        )

    factory, witness_factory = ticking(), ticking()
    client, witness = make_client(factory), make_client(witness_factory)
    await client.connect()
    await witness.connect()
    try:
        await witness.set_status("ticking")
        # Both heartbeat loops tick on the same schedule: 20 ticks of the witness
        # are 20 chances for the client to have sent one.
        await wait_until(lambda: len(witness_factory.last.sent_of("presence.heartbeat")) > 20)
        assert factory.last.sent_of("presence.heartbeat") == []
    finally:
        await client.disconnect()
        await witness.disconnect()


async def test_heartbeat_failure_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    scripted = ScriptedGateway()
    factory = MemoryTransportFactory(
        greet=lambda cid: greeting(cid, heartbeat_interval=0.01), responder=scripted
    )
    client = make_client(factory)
    await client.connect()
    try:
        await client.set_status("busy")
        scripted.refuse["presence.heartbeat"] = ("forbidden", "presence is off")
        with caplog.at_level(logging.DEBUG, "praison_push.client"):
            await wait_until(lambda: "presence heartbeat failed" in caplog.text)
        assert client.is_connected
    finally:
        await client.disconnect()


@pytest.mark.parametrize("interval", [None, "soon", 0])
async def test_odd_heartbeat_intervals_are_tolerated(interval: Any) -> None:
    factory = MemoryTransportFactory(
        greet=lambda cid: greeting(cid, heartbeat_interval=interval), responder=ScriptedGateway()
    )
    client = make_client(factory)
    await client.connect()
    try:
        await client.set_status("ok")
        assert client.is_connected
        # Only set_status's own frame: the default (15 s) or no heartbeat at all.
        assert [f["status"] for f in factory.last.sent_of("presence.heartbeat")] == ["ok"]
    finally:
        await client.disconnect()


# --- subscriptions --------------------------------------------------------------------


async def test_subscribe_is_idempotent_and_adds_callbacks(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    first, second = Recorder(), Recorder()
    await client.subscribe("a", first)
    await client.subscribe("a", second)
    assert len(factory.last.sent_of("channel.subscribe")) == 1
    assert client.subscriptions == {"a"}
    await client.publish("a", "hello")
    assert [m.data for m in await first.wait()] == ["hello"]
    assert [m.data for m in await second.wait()] == ["hello"]


async def test_refused_subscribe_raises_and_registers_nothing(
    client: AsyncPushClient, factory: MemoryTransportFactory, scripted: ScriptedGateway
) -> None:
    scripted.refuse["channel.subscribe"] = ("forbidden", "not yours")
    callback = Recorder()
    with pytest.raises(RequestRefused, match="forbidden"):
        await client.subscribe("secret", callback)
    assert client.subscriptions == frozenset()
    factory.last.feed(channel_message("secret", 1, event_id="e1"))
    await client.list_channels()  # lets the frame through the dispatcher
    await wait_until(lambda: factory.last.sent_of("message_ack") != [])
    assert callback.calls == []


async def test_subscribe_rejects_a_non_callable(client: AsyncPushClient) -> None:
    with pytest.raises(TypeError, match="callback"):
        await client.subscribe("a", "print")  # type: ignore[arg-type]


async def test_unsubscribe_forgets_callbacks(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    callback, everything = Recorder(), Recorder()
    client.on("channel_message")(everything)
    await client.subscribe("a", callback)
    await client.unsubscribe("a")
    assert factory.last.sent_of("channel.unsubscribe")[0]["channel"] == "a"
    assert client.subscriptions == frozenset()
    factory.last.feed(channel_message("a", 1, event_id="late"))
    await everything.wait()
    assert callback.calls == []


async def test_wait_for_subscribes_and_returns_the_next_message(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    task = asyncio.ensure_future(client.wait_for("news", timeout=WAIT))
    await factory.last.next_sent("channel.subscribe")
    await wait_until(lambda: "news" in client.subscriptions)
    factory.last.feed(channel_message("news", {"n": 1}, event_id="e1", offset=1))
    message = await asyncio.wait_for(task, WAIT)
    assert message.data == {"n": 1}
    # Stays subscribed; a second wait does not subscribe again.
    task = await started(client.wait_for("news"))
    factory.last.feed(channel_message("news", {"n": 2}, event_id="e2", offset=2))
    assert (await asyncio.wait_for(task, WAIT)).data == {"n": 2}
    assert len(factory.last.sent_of("channel.subscribe")) == 1


async def test_wait_for_times_out(client: AsyncPushClient) -> None:
    with pytest.raises(asyncio.TimeoutError, match="quiet"):
        await client.wait_for("quiet", timeout=SHORT)
    assert "quiet" in client.subscriptions
    with pytest.raises(ValueError, match="timeout"):
        await client.wait_for("quiet", timeout=0)


async def test_wait_for_fails_when_the_client_closes(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    await client.subscribe("a")
    task = await started(client.wait_for("a", timeout=WAIT))
    factory.last.close(4008, "too many connections")
    with pytest.raises(ConnectionClosedError) as caught:
        await asyncio.wait_for(task, WAIT)
    assert caught.value.code == 4008


def test_on_rejects_bad_arguments() -> None:
    client = AsyncPushClient("ws://x/ws")
    with pytest.raises(ValueError, match="event"):
        client.on("")
    with pytest.raises(TypeError, match="callable"):
        client.on("x")(42)  # type: ignore[type-var]


async def test_off_removes_a_handler(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    removed, kept = Recorder(), Recorder()
    client.on("channel_message")(removed)
    client.on("channel_message")(kept)
    assert client.off("channel_message", removed)
    assert not client.off("channel_message", removed)
    factory.last.feed(channel_message("a", 1, event_id="e1"))
    await kept.wait()
    assert removed.calls == []


async def test_transport_plugged_in_directly_is_checked_against_the_protocol() -> None:
    from praison_push.client import PushTransportProtocol, WebSocketTransport

    assert isinstance(MemoryTransport(), PushTransportProtocol)
    assert isinstance(WebSocketTransport("ws://x/ws"), PushTransportProtocol)
    assert not isinstance(object(), PushTransportProtocol)


async def test_on_without_decorator_close_names_and_removing_one_callback(
    connect: Any,
) -> None:
    """``client.on(event, handler)``, ``aclose()``, and ``unsubscribe(channel, callback)``."""
    from praison_push.client import AsyncPushClient

    client = await connect()
    assert isinstance(client, AsyncPushClient)
    seen: list[Any] = []
    record = seen.append
    assert client.on("presence_list", record) is record
    await client.get_presence()
    first: list[Any] = []
    second: list[Any] = []
    await client.subscribe("news", first.append)
    await client.subscribe("news", second.append)
    await client.unsubscribe("news", first.append)
    assert "news" in client.subscriptions  # only the callback went
    await client.publish("news", {"n": 1}, echo=True)
    for _ in range(500):
        if second:
            break
        await asyncio.sleep(0.01)
    assert [m.data for m in second] == [{"n": 1}] and first == []
    await client.aclose()
    assert client.closed and seen
