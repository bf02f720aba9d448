"""Acknowledgements from the client: batching, manual acks, nacks, redelivery fields.

Over the in-memory transport; the gateway side of acknowledged delivery is
tested in tests/hub/test_delivery.py and end to end in tests/delivery/.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import Recorder, wait_until

from praison_push.client import AsyncPushClient, ChannelMessage, PushError
from praison_push.client.session import ACK_INTERVAL, MAX_ACK_BATCH, ClientSession
from praison_push.testing import MemoryTransportFactory, channel_message

from .helpers import make_client


def acked(factory: MemoryTransportFactory) -> list[list[str]]:
    """The ``event_ids`` of each batched ``message_ack`` sent, in order."""
    return [f["event_ids"] for f in factory.last.sent_of("message_ack") if "event_ids" in f]


# --- the session core: batching decisions, positions, failures -------------------------------


def test_a_batch_is_due_when_full_or_when_its_oldest_waited_long_enough() -> None:
    session = ClientSession()
    assert session.ack_deadline is None and not session.ack_due(100.0)
    assert session.delivered("e0", now=10.0) is False
    assert session.ack_deadline == pytest.approx(10.0 + ACK_INTERVAL)
    assert not session.ack_due(10.05)
    assert session.ack_due(10.0 + ACK_INTERVAL)
    for n in range(1, MAX_ACK_BATCH - 1):
        assert session.delivered(f"e{n}", now=10.01) is False
    assert session.delivered("last", now=10.02) is True  # full: send at once
    assert session.ack_due(10.02)
    frame = session.next_ack()
    assert frame is not None and len(frame["event_ids"]) == MAX_ACK_BATCH
    assert session.ack_deadline is None


def test_an_unsent_batch_keeps_its_place_and_its_deadline() -> None:
    session = ClientSession()
    session.delivered("a", now=1.0)
    frame = session.next_ack()
    assert frame is not None
    session.delivered("b", now=2.0)
    session.ack_not_sent(frame, now=3.0)
    assert session.next_ack() == {"type": "message_ack", "event_ids": ["a", "b"], "reply": False}


def test_a_redelivery_does_not_move_the_resume_position_back() -> None:
    session = ClientSession()
    session.receive(channel_message("c", 1, event_id="e5", offset=5, epoch="ep"))
    (received,) = session.receive(
        channel_message("c", 1, event_id="e3", offset=3, epoch="old", _redelivered=True)
    )
    assert session.position("c") == ("ep", 5)
    assert received.message.redelivered is True  # type: ignore[union-attr]


def test_a_failed_message_is_new_again() -> None:
    session = ClientSession()
    (first,) = session.receive(channel_message("c", 1, event_id="e1"))
    session.failed("e1")
    (again,) = session.receive(channel_message("c", 1, event_id="e1", _redelivered=True))
    (third,) = session.receive(channel_message("c", 1, event_id="e1", _redelivered=True))
    flags = [action.duplicate for action in (first, again, third)]  # type: ignore[union-attr]
    assert flags == [False, False, True]


@pytest.mark.parametrize(
    ("wire", "expected"),
    [({"_redelivered": True, "_retry_count": 2}, (True, 2)), ({}, (False, 0))]
    + [({"_retry_count": bad}, (False, 0)) for bad in ("2", -1, True, 1.5, None)],
)
def test_redelivery_fields_on_the_wire(wire: dict[str, Any], expected: tuple[bool, int]) -> None:
    message = ChannelMessage.from_event_dict(channel_message("c", 1, event_id="e1", **wire))
    assert (message.redelivered, message.retry_count) == expected


async def test_a_message_not_from_a_client_cannot_be_acknowledged() -> None:
    message = ChannelMessage("c", 1, event_id="e1")
    with pytest.raises(PushError, match="nothing to acknowledge"):
        await message.ack()
    with pytest.raises(PushError, match="nothing to acknowledge"):
        await message.nack("why")


def test_the_acknowledger_is_not_part_of_a_messages_value() -> None:
    bare = ChannelMessage("c", 1, event_id="e1")
    bound = ChannelMessage.from_event_dict(channel_message("c", 1, event_id="e1"), object())  # type: ignore[arg-type]
    assert bare.to_dict() == {**bound.to_dict(), "timestamp": bare.timestamp, "offset": None}
    assert "acker" not in repr(bound)


# --- the client: automatic batches ---------------------------------------------------------


async def test_few_handled_messages_are_acknowledged_together_within_the_interval(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    handler = Recorder()
    client.on("channel_message")(handler)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(5):
        factory.last.feed(channel_message("a", n, event_id=f"e{n}"))
    await handler.wait(5)
    await wait_until(lambda: acked(factory) != [])
    assert acked(factory) == [[f"e{n}" for n in range(5)]]  # one frame, not five
    assert loop.time() - started >= ACK_INTERVAL * 0.9


async def test_a_full_batch_goes_out_at_once(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    handler = Recorder()
    client.on("channel_message")(handler)
    count = MAX_ACK_BATCH * 2 + 7
    for n in range(count):
        factory.last.feed(channel_message("a", n, event_id=f"e{n}"))
    await handler.wait(count)
    await wait_until(lambda: sum(len(b) for b in acked(factory)) == count)
    batches = acked(factory)
    assert max(len(b) for b in batches) == MAX_ACK_BATCH
    assert [i for b in batches for i in b] == [f"e{n}" for n in range(count)]


async def test_disconnect_acknowledges_what_was_handled_first(
    factory: MemoryTransportFactory,
) -> None:
    client = make_client(factory)
    await client.connect()
    handler = Recorder()
    client.on("channel_message")(handler)
    factory.last.feed(channel_message("a", 1, event_id="e1"))
    await handler.wait(1)
    transport = factory.last
    await client.disconnect()  # well before the batch interval ran out
    assert [f["event_ids"] for f in transport.sent_of("message_ack")] == [["e1"]]


# --- the client: manual acknowledgements -------------------------------------------------------


async def test_manual_acks_send_nothing_by_themselves(factory: MemoryTransportFactory) -> None:
    client = make_client(factory, auto_ack=False)
    await client.connect()
    try:
        assert client.auto_ack is False
        got: list[ChannelMessage] = []
        client.on("channel_message")(got.append)
        factory.last.feed(channel_message("a", 1, event_id="e1"))
        factory.last.feed(channel_message("a", 1, event_id="e1", _redelivered=True))
        await wait_until(lambda: len(got) == 1)
        await client.list_channels()  # later frames were read and handled meanwhile
        await asyncio.sleep(ACK_INTERVAL * 1.5)  # past the batch interval on purpose
        assert factory.last.sent_of("message_ack") == []
        assert await got[0].ack() is True
        (ack,) = factory.last.sent_of("message_ack")
        assert (ack["event_id"], "event_ids" in ack) == ("e1", False)
    finally:
        await client.disconnect()


async def test_nack_sends_its_reason_and_checks_it(factory: MemoryTransportFactory) -> None:
    client = make_client(factory, auto_ack=False)
    await client.connect()
    try:
        message = ChannelMessage.from_event_dict(
            channel_message("a", 1, event_id="e7"), client._driver
        )
        assert await message.nack("bad input") is True
        assert await client.nack("e8") is True
        nacks = factory.last.sent_of("message_nack")
        assert [(f["event_id"], f.get("reason")) for f in nacks] == [
            ("e7", "bad input"),
            ("e8", None),
        ]
        with pytest.raises(ValueError, match="reason"):
            await client.nack("e9", "x" * 501)
        with pytest.raises(ValueError, match="event_id"):
            await client.ack(ChannelMessage("a", 1))
    finally:
        await client.disconnect()


async def test_ack_says_whether_the_gateway_was_tracking_it(
    client: AsyncPushClient, factory: MemoryTransportFactory
) -> None:
    def untracked(transport: Any, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message_ack":
            transport.feed(
                {
                    "type": "ack_received",
                    "event_id": frame["event_id"],
                    "ok": False,
                    "ref": frame["ref"],
                }
            )

    factory.last.responder = untracked
    assert await client.ack("e1") is False
