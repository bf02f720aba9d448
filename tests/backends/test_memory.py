"""What only the memory backends promise: a fresh epoch per process, no cross-process reach."""

from __future__ import annotations

from typing import Any

from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import HistoryConfig


def message(n: int) -> dict[str, Any]:
    return {"type": "channel_message", "channel": "c", "data": n, "event_id": f"e{n}"}


async def test_a_restarted_store_has_a_new_epoch_and_reports_the_gap() -> None:
    before = MemoryHistoryStore(HistoryConfig())
    for n in range(3):
        await before.append("c", message(n))
    old_epoch = before.epoch
    after = MemoryHistoryStore(HistoryConfig())  # the process restarted: history is gone
    assert after.epoch != old_epoch
    read = await after.read("c", since=(3, old_epoch))
    assert (read.recovered, read.messages, read.offset) == (False, [], 0)
    assert (await after.append("c", message(9)))[0] == 1


async def test_close_forgets_history() -> None:
    store = MemoryHistoryStore(HistoryConfig())
    await store.append("c", message(1))
    await store.close()
    assert (await store.read("c")).offset == 0


async def test_closed_broker_delivers_nothing() -> None:
    broker = MemoryBroker()
    broker.set_handler(lambda channel, frame: 1)
    await broker.close()
    assert await broker.publish("c", message(1)) == 0


async def test_default_clock_is_wall_time() -> None:
    store = MemoryHistoryStore(HistoryConfig(ttl=3600))
    await store.append("c", message(1))
    assert len((await store.read("c")).messages) == 1
