"""The delivery journal: ordered, batched, bounded writes behind the fan-out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from support import wait_until

from praison_push.backends import (
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryChange,
    MemoryDeliveryStore,
)
from praison_push.hub.delivery_journal import Journal


class Gated(MemoryDeliveryStore):
    """A memory store whose writes wait for a gate, and that can fail them."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures = 0
        self.writes: list[int] = []

    async def write(self, changes: Sequence[DeliveryChange]) -> None:
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store down")
        self.writes.append(len(changes))
        await super().write(changes)


def recorded(n: int) -> DeliveriesRecorded:
    return DeliveriesRecorded(f"e{n}", "c", {"n": n}, 1.0, 99.0, 2.0, ["alice"])


async def test_changes_are_written_in_order_and_reads_wait_for_them() -> None:
    store = Gated()
    journal = Journal(store)
    journal.start()
    store.gate.clear()
    for n in range(5):
        journal.change(recorded(n))
    journal.change(DeliveriesSettled("alice", ["e1"]))
    await wait_until(lambda: journal.queued == 0)  # the writer took them, and waits on the gate
    read = asyncio.ensure_future(journal.read(lambda s: s.load("alice")))
    await wait_until(lambda: journal.queued == 1)  # the read, queued behind them
    assert not read.done()
    store.gate.set()
    assert sorted(d.event_id for d in await read) == ["e0", "e2", "e3", "e4"]
    await journal.close(1)


async def test_a_full_queue_drops_new_changes_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Gated()
    journal = Journal(store, max_queued=3)
    journal.start()
    store.gate.clear()
    journal.change(recorded(0))
    await wait_until(lambda: journal.queued == 0)  # the writer holds it, waiting on the gate
    with caplog.at_level(logging.ERROR, "praison_push.hub"):
        for n in range(1, 6):
            journal.change(recorded(n))
    assert (journal.queued, journal.dropped) == (3, 2)
    assert "cannot keep up: 1 change(s) dropped" in caplog.text
    store.gate.set()
    await journal.read(lambda s: s.load("alice"))
    assert sorted(d.event_id for d in await store.load("alice")) == ["e0", "e1", "e2", "e3"]
    await journal.close(1)


async def test_a_failed_write_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    store = Gated()
    store.failures = 1
    journal = Journal(store)
    with caplog.at_level(logging.WARNING, "praison_push.hub"):
        journal.change(recorded(1))
        assert [d.event_id for d in await journal.read(lambda s: s.load("alice"))] == ["e1"]
    assert "write failed (store down); retrying" in caplog.text
    await journal.close(1)


async def test_a_write_failing_for_good_is_dropped_with_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("praison_push.hub.delivery_journal.RETRY_DELAYS", (0.001, 0.001))
    store = Gated()
    store.failures = 3
    journal = Journal(store)
    with caplog.at_level(logging.WARNING, "praison_push.hub"):
        journal.change(recorded(1))
        journal.change(recorded(2))
        assert await journal.read(lambda s: s.load("alice")) == []
    assert "dropped 2 change(s) after retries: store down" in caplog.text
    journal.change(recorded(3))  # the next batch is written again
    assert [d.event_id for d in await journal.read(lambda s: s.load("alice"))] == ["e3"]
    await journal.close(1)


async def test_closing_writes_what_is_queued_then_stops() -> None:
    store = Gated()
    journal = Journal(store)
    journal.start()
    for n in range(3):
        journal.change(recorded(n))
    await journal.close(1)
    assert len(await store.load("alice")) == 3
    journal.change(recorded(9))  # after close: ignored
    assert journal.queued == 0
