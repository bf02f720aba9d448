"""The blocking PushClient over the in-memory transport."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from support import SHORT, WAIT, Recorder, wait_until_threaded

from praison_push.client import AsyncPushClient, ChannelMessage, NotConnectedError, RequestRefused
from praison_push.sync import MessageIterator, PushClient
from praison_push.sync.portal import get_portal
from praison_push.testing import MemoryTransportFactory, ScriptedGateway, channel_message

from .helpers import feed


def subscribe_sent(factory: MemoryTransportFactory, channel: str) -> bool:
    """Whether the client asked to subscribe to ``channel`` (read on the portal loop)."""
    frames = get_portal().run_sync(factory.last.sent_of, "channel.subscribe")
    return any(frame["channel"] == channel for frame in frames)


def test_verbs_forward_to_the_async_client(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    assert sync_client.is_connected
    assert isinstance(sync_client.async_client, AsyncPushClient)
    assert sync_client.client_id == sync_client.async_client.client_id
    assert repr(sync_client).startswith("<PushClient ws://gateway.test/ws")
    assert (sync_client.url, sync_client.fallback_to_polling) == ("ws://gateway.test/ws", True)
    assert sync_client.close_code is None
    sync_client.create_channel("news", {"owner": "me"})
    receipt = sync_client.publish("news", {"n": 1}, id="once")
    assert receipt.channel == "news"
    assert factory.last.sent_of("channel.publish")[0]["id"] == "once"
    assert sync_client.list_channels() == ["news"]
    assert sync_client.history("news", limit=5) == []
    sync_client.set_status("busy", {"desk": 1})
    (entry,) = sync_client.get_presence()
    assert entry.status == "busy"
    sync_client.subscribe("news")
    assert sync_client.subscriptions == {"news"}
    sync_client.unsubscribe("news")
    assert sync_client.subscriptions == frozenset()


def test_errors_surface_in_the_calling_thread(sync_client: PushClient) -> None:
    with pytest.raises(ValueError, match="channel"):
        sync_client.publish("bad channel", 1)
    with pytest.raises(TypeError, match="callback"):
        sync_client.subscribe("a", "not callable")  # type: ignore[arg-type]


def test_refusals_surface_in_the_calling_thread(factory: MemoryTransportFactory) -> None:
    scripted = ScriptedGateway()
    scripted.refuse["channel.subscribe"] = ("forbidden", "no")
    factory.responder = scripted
    with (
        PushClient("ws://gateway.test/ws", transport_factory=factory) as client,
        pytest.raises(RequestRefused, match="forbidden"),
    ):
        client.subscribe("secret")


def test_callbacks_run_in_order_on_the_client_worker_thread(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    callback, handler = Recorder(), Recorder()
    sync_client.on("channel_message")(handler)
    sync_client.subscribe("a", callback)
    for n in range(5):
        feed(factory, channel_message("a", n, event_id=f"e{n}"))
    assert [m.data for m in callback.wait_threaded(5)] == [0, 1, 2, 3, 4]
    assert [m.data for m in handler.wait_threaded(5)] == [0, 1, 2, 3, 4]
    assert set(callback.threads) == {f"praison-push-callbacks-{sync_client.client_id[:8]}"}
    # Acknowledged only after the callbacks ran.
    wait_until_threaded(
        lambda: sum(len(f["event_ids"]) for f in factory.last.sent_of("message_ack")) == 5
    )


def test_a_blocking_callback_stalls_neither_the_loop_nor_other_clients(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    release, entered = threading.Event(), threading.Event()

    def blocking(_message: ChannelMessage) -> None:
        entered.set()
        release.wait(WAIT)

    sync_client.subscribe("a", blocking)
    feed(factory, channel_message("a", 1, event_id="e1"))
    assert entered.wait(WAIT)
    try:
        assert sync_client.publish("b", "still flowing").channel == "b"
        other_factory = MemoryTransportFactory(responder=ScriptedGateway())
        with PushClient("ws://other/ws", transport_factory=other_factory) as other:
            assert other.list_channels() == []
    finally:
        release.set()


def test_a_callback_may_call_the_client(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    echoed = Recorder()
    sync_client.subscribe("echo", echoed)

    def relay(message: ChannelMessage) -> None:
        sync_client.publish("echo", message.data)

    sync_client.subscribe("in", relay)
    feed(factory, channel_message("in", "ping", event_id="e1"))
    assert [m.data for m in echoed.wait_threaded()] == ["ping"]


def test_async_callbacks_given_to_the_sync_face_run_on_the_loop(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    seen = Recorder()

    async def on_loop(message: ChannelMessage) -> None:
        seen(threading.current_thread().name)

    sync_client.subscribe("a", on_loop)
    feed(factory, channel_message("a", 1, event_id="e1"))
    assert seen.wait_threaded() == ["praison-push-portal"]


def test_sync_calls_from_an_async_handler_on_the_loop_are_refused(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    errors = Recorder()

    async def misuse(_message: ChannelMessage) -> None:
        try:
            sync_client.list_channels()
        except RuntimeError as exc:
            errors(str(exc))

    sync_client.subscribe("a", misuse)
    feed(factory, channel_message("a", 1, event_id="e1"))
    assert "event-loop thread" in errors.wait_threaded()[0]


def test_off_removes_a_sync_handler(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    removed, kept = Recorder(), Recorder()
    sync_client.on("channel_message")(removed)
    sync_client.on("channel_message")(kept)
    assert sync_client.off("channel_message", removed)
    assert not sync_client.off("channel_message", removed)
    feed(factory, channel_message("a", 1, event_id="e1"))
    kept.wait_threaded()
    assert removed.calls == []


def test_on_twice_registers_once_and_off_removes_it(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    twice, kept = Recorder(), Recorder()
    sync_client.on("channel_message")(twice)
    sync_client.on("channel_message")(twice)
    sync_client.on("channel_message")(kept)
    feed(factory, channel_message("a", 1, event_id="e1"))
    kept.wait_threaded()
    assert len(twice.calls) == 1
    assert sync_client.off("channel_message", twice)
    feed(factory, channel_message("a", 2, event_id="e2"))
    kept.wait_threaded(2)
    assert len(twice.calls) == 1


def test_closed_follows_the_async_client(sync_client: PushClient) -> None:
    assert not sync_client.closed
    sync_client.disconnect()
    assert sync_client.closed and sync_client.async_client.closed
    assert sync_client.close_code == 1000


def test_wait_for_blocks_until_a_message_or_times_out(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    with pytest.raises(asyncio.TimeoutError):
        sync_client.wait_for("quiet", timeout=SHORT)

    def publish_soon() -> None:
        # wait_for() waits for messages before it subscribes: once it asked, it listens.
        wait_until_threaded(lambda: subscribe_sent(factory, "news"))
        feed(factory, channel_message("news", "hi", event_id="e1"))

    threading.Thread(target=publish_soon, daemon=True).start()
    assert sync_client.wait_for("news", timeout=WAIT).data == "hi"


def test_messages_is_a_blocking_iterator_that_ends_when_idle(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    messages = sync_client.messages("feed", timeout=SHORT)
    assert isinstance(messages, MessageIterator)
    assert "feed" in repr(messages)
    assert "feed" in sync_client.subscriptions  # subscribed before iterating
    for n in range(3):
        feed(factory, channel_message("feed", n, event_id=f"e{n}"))
    assert [m.data for m in messages] == [0, 1, 2]  # then SHORT idle → stop
    assert list(messages) == []


def test_messages_iterator_ends_when_the_client_closes(factory: MemoryTransportFactory) -> None:
    client = PushClient("ws://gateway.test/ws", transport_factory=factory)
    client.connect()
    with client.messages("feed") as messages:
        feed(factory, channel_message("feed", 1, event_id="e1"))
        assert next(messages).data == 1
        client.disconnect()
        assert list(messages) == []


def test_messages_refused_subscription_raises(factory: MemoryTransportFactory) -> None:
    scripted = ScriptedGateway()
    scripted.refuse["channel.subscribe"] = ("forbidden", "no")
    factory.responder = scripted
    with PushClient("ws://gateway.test/ws", transport_factory=factory) as client:
        with pytest.raises(RequestRefused):
            client.messages("secret")
        assert client.subscriptions == frozenset()
        del scripted.refuse["channel.subscribe"]
        with client.messages("open", timeout=SHORT / 4) as still_works:
            assert list(still_works) == []
        assert client.subscriptions == {"open"}


def test_disconnect_from_a_callback_only_starts_closing(
    sync_client: PushClient, factory: MemoryTransportFactory
) -> None:
    refusals = Recorder()

    def stop(_message: ChannelMessage) -> None:
        for blocked in (lambda: sync_client.wait_closed(), lambda: sync_client.messages("x")):
            try:
                blocked()
            except RuntimeError as exc:
                refusals(str(exc))
        sync_client.disconnect()

    sync_client.subscribe("a", stop)
    feed(factory, channel_message("a", 1, event_id="e1"))
    sync_client.wait_closed(timeout=WAIT)
    assert not sync_client.is_connected
    assert len(refusals.wait_threaded(2)) == 2
    assert all("from one of this client's callbacks" in text for text in refusals.calls)
    with pytest.raises(NotConnectedError):
        sync_client.publish("a", 1)


def test_wait_closed_times_out_while_open(sync_client: PushClient) -> None:
    with pytest.raises(asyncio.TimeoutError):
        sync_client.wait_closed(timeout=SHORT / 4)
    assert sync_client.is_connected


def test_context_manager_connects_and_disconnects(factory: MemoryTransportFactory) -> None:
    with PushClient("ws://gateway.test/ws", transport_factory=factory) as client:
        assert client.is_connected
    assert not client.is_connected
    client.wait_closed(timeout=WAIT)


async def test_blocking_calls_work_inside_a_running_event_loop(
    factory: MemoryTransportFactory,
) -> None:
    asyncio.get_running_loop()  # as in a Jupyter cell
    received = Recorder()
    with PushClient("ws://gateway.test/ws", transport_factory=factory) as client:
        client.subscribe("a", received)
        assert client.publish("a", 1).delivered == 1
        assert [m.data for m in received.wait_threaded()] == [1]

        def feed_when_waited_for() -> None:
            wait_until_threaded(lambda: subscribe_sent(factory, "b"))
            feed(factory, channel_message("b", 2, event_id="e2"))

        threading.Thread(target=feed_when_waited_for, daemon=True).start()
        assert client.wait_for("b", timeout=WAIT).data == 2


def test_constructor_errors_surface_in_the_calling_thread() -> None:
    with pytest.raises(ValueError, match="url"):
        PushClient("")


def test_sync_on_without_decorator_close_and_removing_one_callback(gateway: Any) -> None:
    from praison_push.sync import PushClient

    client = PushClient(gateway.url)
    client.connect()
    first: list[Any] = []
    second: list[Any] = []

    def record_first(message: Any) -> None:
        first.append(message.data)

    def record_second(message: Any) -> None:
        second.append(message.data)

    seen: list[Any] = []

    def on_list(frame: Any) -> None:
        seen.append(frame)

    assert client.on("presence_list", on_list) is on_list
    client.subscribe("news", record_first)
    client.subscribe("news", record_second)
    client.unsubscribe("news", record_first)
    assert "news" in client.subscriptions
    client.publish("news", {"n": 1}, echo=True)
    client.get_presence()
    deadline = time.monotonic() + 5
    while not (second and seen) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert second == [{"n": 1}] and first == [] and seen
    client.close()
    assert client.closed
