"""Acknowledgements on the blocking face: ``msg.ack()`` blocks, one core underneath."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from support import WAIT, Recorder, wait_until_threaded

from praison_push.client import ChannelMessage, PushError
from praison_push.sync import PushClient, SyncChannelMessage
from praison_push.sync.portal import get_portal
from praison_push.testing import MemoryTransportFactory, channel_message

from .helpers import feed


@pytest.fixture
def manual(factory: MemoryTransportFactory) -> Iterator[PushClient]:
    client = PushClient(
        "ws://gateway.test/ws", transport_factory=factory, request_timeout=WAIT, auto_ack=False
    )
    client.connect()
    yield client
    client.disconnect()


def sent(factory: MemoryTransportFactory, kind: str) -> list[dict[str, object]]:
    return get_portal().run_sync(factory.last.sent_of, kind)


def test_a_callback_acknowledges_its_message_by_blocking(
    manual: PushClient, factory: MemoryTransportFactory
) -> None:
    results = Recorder()

    def handle(message: ChannelMessage) -> None:
        assert isinstance(message, SyncChannelMessage)
        results(message.ack())  # blocks on the callback thread, returns the gateway's word

    assert manual.auto_ack is False
    manual.subscribe("a", handle)
    feed(factory, channel_message("a", 1, event_id="e1"))
    assert results.wait_threaded(1) == [True]
    (ack,) = sent(factory, "message_ack")
    assert ack["event_id"] == "e1"


def test_nack_and_the_client_verbs(manual: PushClient, factory: MemoryTransportFactory) -> None:
    got = Recorder()
    manual.on("channel_message")(got)
    feed(factory, channel_message("a", 1, event_id="e1"))
    (message,) = got.wait_threaded(1)
    assert message.nack("no good") is True
    assert manual.ack("e2") is True
    assert manual.nack(message, "again") is True
    nacks = sent(factory, "message_nack")
    assert [(f["event_id"], f.get("reason")) for f in nacks] == [
        ("e1", "no good"),
        ("e1", "again"),
    ]


def test_messages_from_wait_for_and_the_iterator_block_too(
    manual: PushClient, factory: MemoryTransportFactory
) -> None:
    with manual.messages("a", timeout=WAIT) as stream:
        feed(factory, channel_message("a", 1, event_id="e1"))
        message = next(stream)
    assert isinstance(message, SyncChannelMessage) and message.ack() is True

    def feed_when_waited_on() -> None:
        wait_until_threaded(
            lambda: any(f["channel"] == "b" for f in sent(factory, "channel.subscribe"))
        )
        feed(factory, channel_message("b", 2, event_id="e2"))

    feeder = threading.Thread(target=feed_when_waited_on)
    feeder.start()
    try:
        waited = manual.wait_for("b", timeout=WAIT)
    finally:
        feeder.join(WAIT)
    assert isinstance(waited, SyncChannelMessage) and waited.ack() is True


def test_automatic_acks_still_batch(factory: MemoryTransportFactory) -> None:
    with PushClient("ws://gateway.test/ws", transport_factory=factory) as client:
        assert client.auto_ack is True
        client.subscribe("a", lambda message: None)
        for n in range(3):
            feed(factory, channel_message("a", n, event_id=f"e{n}"))
        wait_until_threaded(lambda: sent(factory, "message_ack") != [])
        assert [f["event_ids"] for f in sent(factory, "message_ack")] == [["e0", "e1", "e2"]]


def test_a_sync_message_keeps_the_values_fields() -> None:
    original = ChannelMessage.from_event_dict(
        channel_message("a", {"x": 1}, event_id="e1", _redelivered=True, _retry_count=2)
    )
    blocking = SyncChannelMessage.of(original, None)  # type: ignore[arg-type]
    assert blocking.to_dict() == original.to_dict()
    assert (blocking.redelivered, blocking.retry_count) == (True, 2)
    assert SyncChannelMessage.of(blocking, None) is blocking  # type: ignore[arg-type]
    with pytest.raises(PushError, match="nothing to acknowledge"):
        blocking.ack()
