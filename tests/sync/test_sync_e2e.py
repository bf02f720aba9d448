"""The blocking PushClient end to end against a real gateway (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from support import SHORT, WAIT, Recorder, wait_until_threaded

from praison_push.client import AuthenticationFailed, ChannelMessage
from praison_push.config import AuthConfig, GatewayConfig
from praison_push.server import GatewayThread
from praison_push.sync import PushClient

from .helpers import Connect


def test_two_clients_publish_and_subscribe(connect: Connect) -> None:
    alice, bob = connect(), connect()
    received = Recorder()
    alice.subscribe("chat", received)
    receipt = bob.publish("chat", {"text": "hi"})
    assert receipt.delivered == 1
    (message,) = received.wait_threaded()
    assert isinstance(message, ChannelMessage)
    assert (message.data, message.source) == ({"text": "hi"}, bob.client_id)


def test_presence_join_leave_and_query(connect: Connect) -> None:
    alice = connect()
    joins, leaves = Recorder(), Recorder()
    alice.on("presence_join")(joins)
    alice.on("presence_leave")(leaves)
    alice.subscribe("room")
    alice.set_status("available")
    bob = connect()
    bob.subscribe("room")
    bob.set_status("busy", {"desk": 3})
    assert joins.wait_threaded()[0]["data"]["client_id"] == bob.client_id
    presence = {p.client_id: p for p in alice.get_presence("room")}
    assert presence[alice.client_id].status == "available"
    assert (presence[bob.client_id].status, presence[bob.client_id].metadata) == (
        "busy",
        {"desk": 3},
    )
    bob.unsubscribe("room")
    assert leaves.wait_threaded()[0]["data"]["client_id"] == bob.client_id


def test_wait_for_times_out_then_receives(connect: Connect) -> None:
    alice, bob = connect(), connect()
    with pytest.raises(asyncio.TimeoutError):
        alice.wait_for("quiet", timeout=SHORT)

    assert "quiet" in alice.subscriptions  # a timed-out wait_for stays subscribed
    received = threading.Event()

    def publish_until_received() -> None:
        # wait_for() returns the next message once it waits: publish until one reached it.
        while not received.is_set():
            bob.publish("quiet", "now")

    publisher = threading.Thread(target=publish_until_received, daemon=True)
    publisher.start()
    try:
        assert alice.wait_for("quiet", timeout=WAIT).data == "now"
    finally:
        received.set()
        publisher.join(WAIT)
    assert not publisher.is_alive()


def test_messages_iterator_and_history(connect: Connect) -> None:
    alice, bob = connect(), connect()
    with alice.messages("feed", timeout=SHORT) as messages:
        for n in range(3):
            bob.publish("feed", n)
        assert [m.data for m in messages] == [0, 1, 2]
    assert [m.data for m in bob.history("feed")] == [0, 1, 2]
    assert "feed" in bob.list_channels()


async def test_blocking_face_works_inside_a_running_event_loop(connect: Connect) -> None:
    asyncio.get_running_loop()  # this test body runs on a loop, as a Jupyter cell does
    alice, bob = connect(), connect()
    received = Recorder()
    alice.subscribe("jupyter", received)
    bob.publish("jupyter", "from a running loop")
    assert received.wait_threaded()[0].data == "from a running loop"
    assert {alice.client_id, bob.client_id} <= {p.client_id for p in bob.get_presence()}


def test_bad_token_is_refused(gateway_factory: Callable[..., GatewayThread]) -> None:
    gateway = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=["right"])))
    with pytest.raises(AuthenticationFailed):
        PushClient(gateway.url, auth_token="wrong").connect()
    with PushClient(gateway.url, auth_token="right") as client:
        assert client.is_connected


def test_client_reconnects_after_a_gateway_restart(
    gateway: GatewayThread, connect: Connect
) -> None:
    alice = connect()
    events = Recorder()
    for name in ("connected", "disconnected", "reconnecting"):
        alice.on(name)(lambda payload, name=name: events((name, payload)))
    received = Recorder()
    alice.subscribe("news", received)

    gateway.stop()
    wait_until_threaded(lambda: "reconnecting" in [n for n, _ in events.calls])
    gateway.start()
    wait_until_threaded(lambda: [n for n, _ in events.calls].count("connected") == 1)
    wait_until_threaded(lambda: alice.is_connected)
    assert events.calls[0][0] == "disconnected"

    bob = connect()
    # The resubscribe may still be in flight: publish until one arrives.
    wait_until_threaded(lambda: bool(bob.publish("news", "after restart").delivered))
    assert received.wait_threaded()[0].data == "after restart"


def test_echo_delivers_a_publication_to_its_own_subscribed_publisher(connect: Connect) -> None:
    client = connect()
    stream = client.messages("self-talk", timeout=WAIT)
    assert client.publish("self-talk", {"n": 1}).delivered == 0  # left out by default
    assert client.publish("self-talk", {"n": 2}, echo=True).delivered == 1
    assert next(iter(stream)).data == {"n": 2}


def test_the_callback_thread_ends_when_the_gateway_closes_the_client_for_good(
    connect: Connect, gateway: GatewayThread
) -> None:
    from praison_push.protocol import CloseCode

    client = connect(auto_reconnect=True)
    seen = threading.Event()
    client.subscribe("t", lambda message: seen.set())
    connect().publish("t", 1)
    assert seen.wait(WAIT)
    workers = [t for t in threading.enumerate() if t.name.startswith("praison-push-callbacks-")]
    mine = [t for t in workers if client.client_id[:8] in t.name]
    assert mine and mine[0].is_alive()
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    (session,) = [s for s in hub.connections.values() if s.client_id == client.client_id]
    gateway.call(lambda: session.close(CloseCode.POLICY_VIOLATION, "terminal"))  # no reconnect
    client.wait_closed(WAIT)
    mine[0].join(WAIT)
    assert not mine[0].is_alive()
