"""The load generator of ``bench/delivery.py`` acknowledges as the package's client does.

The client sends a ``message_ack`` :data:`~praison_push.client.session.ACK_INTERVAL`
after the oldest delivery it still owes (its own timer), or at once with
:data:`~praison_push.client.session.MAX_ACK_BATCH` ids. The load generator once
flushed every subscriber on one shared 100 ms tick instead: a batch went out
anywhere from 0 to 100 ms after its oldest delivery, so it sent about twice as
many ack frames per delivery as the clients it stands for, and the tracking-on
figure measured that extra load. These tests drive its subscriber with
hand-made frames on a real event loop (no socket: the transport records).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import timeout, wait_until

from praison_push.client.session import ACK_INTERVAL, MAX_ACK_BATCH

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def loadgen() -> Iterator[ModuleType]:
    """``bench/_loadgen.py``, imported as its scripts import it (bench/ on the path)."""
    sys.path.insert(0, str(BENCH))
    try:
        import _loadgen

        yield _loadgen
    finally:
        sys.path.remove(str(BENCH))


class Sent:
    """A stand-in for picows' transport: records what is sent, and when."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []

    def send(self, kind: Any, payload: bytes) -> None:
        self.frames.append((time.monotonic(), payload))


class Frame:
    def __init__(self, seq: int) -> None:
        self.payload = (
            b'{"type":"channel_message","channel":"bench","data":{"seq":%d,"t":1},'
            b'"event_id":"e%d"}' % (seq, seq)
        )

    def get_payload_as_bytes(self) -> bytes:
        return self.payload


def test_its_batch_limits_are_the_clients(loadgen: ModuleType) -> None:
    assert loadgen.ACK_INTERVAL == ACK_INTERVAL
    assert loadgen.ACK_BATCH == MAX_ACK_BATCH


async def test_each_ack_leaves_one_interval_after_the_oldest_owed_delivery(
    loadgen: ModuleType,
) -> None:
    stats = loadgen._FanoutStats(1, 2 * MAX_ACK_BATCH)
    subscriber = loadgen._AckingSubscriber(stats, set())
    sent = Sent()
    subscriber.transport = sent
    started = time.monotonic()
    subscriber.on_ws_frame(sent, Frame(0))
    subscriber.on_ws_frame(sent, Frame(1))
    await wait_until(lambda: sent.frames, timeout(2.0))
    ((at, payload),) = sent.frames
    assert at - started >= ACK_INTERVAL
    assert json.loads(payload)["event_ids"] == ["e0", "e1"]
    # The next delivery starts a new interval of its own, not a shared tick's.
    again = time.monotonic()
    subscriber.on_ws_frame(sent, Frame(2))
    await wait_until(lambda: len(sent.frames) == 2, timeout(2.0))
    assert sent.frames[1][0] - again >= ACK_INTERVAL
    assert json.loads(sent.frames[1][1])["event_ids"] == ["e2"]


async def test_a_full_batch_goes_at_once_and_cancels_its_timer(loadgen: ModuleType) -> None:
    stats = loadgen._FanoutStats(1, 2 * MAX_ACK_BATCH)
    subscriber = loadgen._AckingSubscriber(stats, set())
    sent = Sent()
    subscriber.transport = sent
    for seq in range(MAX_ACK_BATCH):
        subscriber.on_ws_frame(sent, Frame(seq))
    assert len(sent.frames) == 1  # sent from on_ws_frame itself, no timer involved
    ack = json.loads(sent.frames[0][1])
    assert ack["event_ids"] == [f"e{seq}" for seq in range(MAX_ACK_BATCH)]
    await asyncio.sleep(0)
    assert subscriber._timer is None
