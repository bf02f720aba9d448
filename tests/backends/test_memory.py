"""What only the memory backends promise: a fresh epoch per process, no cross-process reach,
and memory freed as channels go quiet."""

from __future__ import annotations

from typing import Any

from support import FakeClock

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


# --- freeing memory: expiry on append, quiet channels forgotten ----------------------------------


def frames_held(store: MemoryHistoryStore) -> int:
    return sum(len(h.entries) for h in (*store._live.values(), *store._idle.values()))


async def test_append_expires_old_entries() -> None:
    clock = FakeClock()
    store = MemoryHistoryStore(HistoryConfig(ttl=10), clock=clock)
    for n in range(3):
        await store.append("c", message(n))
    clock.advance(11)
    await store.append("c", message(3))  # no read in between
    assert [frame["offset"] for _, frame, _ in store._live["c"].entries] == [4]


async def test_a_quiet_channel_is_forgotten_and_comes_back_in_a_new_epoch() -> None:
    clock = FakeClock()
    store = MemoryHistoryStore(HistoryConfig(ttl=10), clock=clock, meta_ttl=30)
    for n in range(3):
        _, old_epoch = await store.append("c", message(n))
    await store.append("other", message(0))
    assert store.channel_count == 2
    clock.advance(11)  # entries expired: freed, but offsets keep counting
    await store.read("x")
    assert frames_held(store) == 0
    assert (await store.read("c")).offset == 3
    assert (await store.read("c", since=(3, old_epoch))).recovered is True
    clock.advance(20)  # quiet for longer than meta_ttl: forgotten
    gone = await store.read("c", since=(3, old_epoch))
    assert store.channel_count == 0
    assert (gone.offset, gone.recovered, gone.messages) == (0, False, [])
    offset, epoch = await store.append("c", message(9))
    assert (offset, epoch != old_epoch) == (1, True)
    read = await store.read("c", since=(3, old_epoch))
    assert (read.recovered, read.offset, read.epoch) == (False, 1, epoch)
    assert (await store.read("c", since=(0, old_epoch))).recovered is False


async def test_default_meta_ttl_keeps_offsets_past_the_ttl() -> None:
    clock = FakeClock()
    store = MemoryHistoryStore(HistoryConfig(ttl=10), clock=clock)
    _, epoch = await store.append("c", message(1))
    clock.advance(3600)
    assert (await store.read("c", since=(1, epoch))).recovered is True
    assert (await store.append("c", message(2))) == (2, epoch)


async def test_close_moves_to_a_new_epoch() -> None:
    store = MemoryHistoryStore(HistoryConfig())
    _, epoch = await store.append("c", message(1))
    await store.close()
    assert (await store.read("c", since=(0, epoch))).recovered is False


async def test_memory_stays_bounded_across_many_channel_names() -> None:
    clock = FakeClock()
    store = MemoryHistoryStore(HistoryConfig(ttl=10, size=100), clock=clock, meta_ttl=20)
    peak_channels = peak_frames = 0
    # 2,000 names, each held for meta_ttl (400 names at a time): five times the bound,
    # measured after every name (the frame count is a walk over every channel held).
    for n in range(2_000):
        for _ in range(3):
            await store.append(f"name-{n}", message(n))
        clock.advance(0.05)  # 100 s in all: 10 ttl windows
        peak_channels = max(peak_channels, store.channel_count)
        peak_frames = max(peak_frames, frames_held(store))
    # Only channels written within meta_ttl (20 s = 400 names) are held, and only
    # frames written within ttl (10 s = 200 names x 3); a little slack for laziness.
    assert peak_channels <= 420
    assert peak_frames <= 3 * 220
    clock.advance(21)
    for _ in range(300):
        await store.read("probe")
    assert store.channel_count == 0


# --- one bound on the bytes held across channels (issue 12, item 6) -----------------------------


def big(n: int, size: int = 10_000) -> dict[str, Any]:
    return {"type": "channel_message", "data": "x" * size, "event_id": f"e{n}"}


async def test_history_across_channels_stays_within_max_memory_bytes() -> None:
    # Before the bound, 100 quiet channels held 100 × 10 KB for the whole ttl.
    store = MemoryHistoryStore(HistoryConfig(max_memory_bytes=64 * 1024))
    for n in range(100):
        await store.append(f"c{n}", big(n))
    assert store.held_bytes <= 64 * 1024
    assert frames_held(store) <= 7
    assert store.evicted >= 93
    # The oldest channels went first: the newest still recover, an evicted one says so.
    newest = await store.read("c99", since=(0, store.epoch))
    assert (newest.recovered, len(newest.messages)) == (True, 1)
    oldest = await store.read("c0", since=(0, store.epoch))
    assert (oldest.recovered, oldest.messages, oldest.offset) == (False, [], 1)
    assert (await store.append("c0", big(100)))[0] == 2  # offsets keep counting


async def test_one_busy_channel_past_the_bound_drops_its_own_oldest() -> None:
    store = MemoryHistoryStore(HistoryConfig(max_memory_bytes=64 * 1024))
    for n in range(20):
        await store.append("c", big(n))
    assert store.held_bytes <= 64 * 1024
    read = await store.read("c", since=(0, store.epoch))
    assert read.recovered is False  # the first ones are gone, and the reader is told
    assert [m["event_id"] for m in read.messages][-1] == "e19"
    assert (await store.read("c", since=(19, store.epoch))).recovered is True
