"""HistoryStore contract (backends/base.py, PROTOCOL.md §3), run against every backend."""

from __future__ import annotations

from typing import Any

from praison_push.backends import HistoryRead, HistoryStore

from .helpers import BackendKit


def message(n: int, channel: str = "c") -> dict[str, Any]:
    """A ``channel_message`` as the hub appends it (no offset/epoch yet)."""
    return {
        "type": "channel_message",
        "channel": channel,
        "data": {"n": n},
        "event_id": f"ev-{channel}-{n}",
        "timestamp": 1.0 + n,
        "source": "pub",
    }


async def fill(store: HistoryStore, count: int, channel: str = "c") -> str:
    """Append ``count`` messages; return the epoch."""
    epoch = ""
    for n in range(1, count + 1):
        _, epoch = await store.append(channel, message(n, channel))
    return epoch


def offsets(read: HistoryRead) -> list[int]:
    return [frame["offset"] for frame in read.messages]


# --- offsets and epoch ---------------------------------------------------------------------------


async def test_offsets_start_at_one_and_grow_by_one(backend: BackendKit) -> None:
    store = backend.history()
    positions = [await store.append("c", message(n)) for n in range(1, 6)]
    assert [offset for offset, _ in positions] == [1, 2, 3, 4, 5]
    assert len({epoch for _, epoch in positions}) == 1
    assert positions[0][1]


async def test_append_stamps_the_frame(backend: BackendKit) -> None:
    store = backend.history()
    frame = message(1)
    offset, epoch = await store.append("c", frame)
    assert (frame["offset"], frame["epoch"]) == (offset, epoch)


async def test_each_channel_counts_on_its_own(backend: BackendKit) -> None:
    store = backend.history()
    await fill(store, 3, "a")
    assert (await store.append("b", message(1, "b")))[0] == 1
    assert (await store.append("a", message(4, "a")))[0] == 4


async def test_epoch_is_stable_across_appends_and_reads(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 3)
    assert (await store.read("c")).epoch == epoch
    await store.append("c", message(4))
    read = await store.read("c", since=(1, epoch))
    assert read.epoch == epoch
    assert read.offset == 4


# --- reading -------------------------------------------------------------------------------------


async def test_a_never_published_channel(backend: BackendKit) -> None:
    store = backend.history()
    read = await store.read("empty")
    assert (read.messages, read.offset, read.recovered) == ([], 0, True)
    assert read.epoch
    # Offset 0 of the current epoch is complete: nothing was missed.
    assert (await store.read("empty", since=(0, read.epoch))).recovered is True
    assert (await store.read("empty", since=(0, "not-" + read.epoch))).recovered is False


async def test_read_all_is_oldest_first_and_keeps_the_frames(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 4)
    read = await store.read("c")
    assert offsets(read) == [1, 2, 3, 4]
    assert (read.offset, read.epoch, read.recovered) == (4, epoch, True)
    first = read.messages[0]
    assert first["data"] == {"n": 1}
    assert first["event_id"] == "ev-c-1"
    assert first["channel"] == "c"
    assert first["type"] == "channel_message"
    assert first["epoch"] == epoch


async def test_limit_without_since_returns_the_newest(backend: BackendKit) -> None:
    store = backend.history()
    await fill(store, 5)
    assert offsets(await store.read("c", limit=2)) == [4, 5]
    assert offsets(await store.read("c", limit=10)) == [1, 2, 3, 4, 5]
    empty = await store.read("c", limit=0)
    assert (empty.messages, empty.offset, empty.recovered) == ([], 5, True)


async def test_since_returns_what_was_missed(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 5)
    read = await store.read("c", since=(2, epoch))
    assert offsets(read) == [3, 4, 5]
    assert (read.offset, read.epoch, read.recovered) == (5, epoch, True)


async def test_limit_after_since_returns_the_oldest(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 5)
    read = await store.read("c", since=(1, epoch), limit=2)
    assert offsets(read) == [2, 3]
    assert read.offset == 5
    assert read.recovered is True


async def test_since_the_latest_offset_is_complete_and_empty(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 3)
    read = await store.read("c", since=(3, epoch))
    assert (read.messages, read.offset, read.recovered) == ([], 3, True)


async def test_since_zero_replays_everything(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 3)
    read = await store.read("c", since=(0, epoch))
    assert offsets(read) == [1, 2, 3]
    assert read.recovered is True


# --- gaps: never silent --------------------------------------------------------------------------


async def test_wrong_epoch_is_not_recovered(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 3)
    read = await store.read("c", since=(1, epoch + "-old"))
    assert read.recovered is False
    assert read.messages == []
    assert (read.offset, read.epoch) == (3, epoch)


async def test_since_beyond_the_end_is_not_recovered(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 3)
    read = await store.read("c", since=(9, epoch))
    assert read.recovered is False
    assert read.messages == []
    assert read.offset == 3


async def test_expired_entries_are_a_gap(backend: BackendKit) -> None:
    assert backend.controls_clock, f"{backend.name} must follow the injected clock"
    store = backend.history(ttl=10.0)
    epoch = await fill(store, 2)
    backend.clock.advance(5)
    await store.append("c", message(3))
    backend.clock.advance(6)  # 1 and 2 are 11 s old, 3 is 6 s old
    assert offsets(await store.read("c")) == [3]
    assert (await store.read("c", since=(0, epoch))).recovered is False
    assert (await store.read("c", since=(1, epoch))).recovered is False
    recovered = await store.read("c", since=(2, epoch))
    assert recovered.recovered is True
    assert offsets(recovered) == [3]
    backend.clock.advance(10)  # everything expired
    gone = await store.read("c")
    assert (gone.messages, gone.offset) == ([], 3)
    assert (await store.read("c", since=(2, epoch))).recovered is False
    assert (await store.read("c", since=(3, epoch))).recovered is True
    # Offsets keep counting after expiry: no reuse.
    assert (await store.append("c", message(4)))[0] == 4


async def test_entries_within_ttl_are_kept(backend: BackendKit) -> None:
    assert backend.controls_clock, f"{backend.name} must follow the injected clock"
    store = backend.history(ttl=10.0)
    epoch = await fill(store, 2)
    backend.clock.advance(9.5)
    read = await store.read("c", since=(0, epoch))
    assert offsets(read) == [1, 2]
    assert read.recovered is True


async def test_size_bounds_each_channel(backend: BackendKit) -> None:
    store = backend.history(size=3)
    epoch = await fill(store, 5)
    await fill(store, 2, "other")
    assert offsets(await store.read("c")) == [3, 4, 5]
    assert offsets(await store.read("other")) == [1, 2]
    assert (await store.read("c", since=(1, epoch))).recovered is False
    kept = await store.read("c", since=(2, epoch))
    assert kept.recovered is True
    assert offsets(kept) == [3, 4, 5]


async def test_size_zero_keeps_no_history_but_counts(backend: BackendKit) -> None:
    store = backend.history(size=0)
    epoch = await fill(store, 3)
    read = await store.read("c")
    assert (read.messages, read.offset) == ([], 3)
    assert (await store.read("c", since=(0, epoch))).recovered is False
    assert (await store.read("c", since=(3, epoch))).recovered is True


async def test_close_releases_what_the_store_holds(backend: BackendKit) -> None:
    store = backend.history()
    epoch = await fill(store, 2)
    await store.close()
    await store.close()  # idempotent
    if backend.history_outlives_store:
        # Only the connection was the store's: another store reads the same history.
        kept = await backend.history().read("c")
        assert (kept.offset, kept.epoch, offsets(kept)) == (2, epoch, [1, 2])
    else:
        # In-process history was the store's own: positions given before are gone.
        gone = await store.read("c", since=(2, epoch))
        assert (gone.offset, gone.recovered) == (0, False)


def test_the_store_satisfies_the_protocol(backend: BackendKit) -> None:
    assert isinstance(backend.history(), HistoryStore)


async def test_pages_after_since_cover_what_is_kept_once_past_expired_entries(
    backend: BackendKit,
) -> None:
    # A replay in pages (issue 12): each page reads from the last offset of the one
    # before. Redis reads a page's worth only (XRANGE COUNT), also past expired entries.
    store = backend.history(ttl=10.0)
    epoch = await fill(store, 6)
    backend.clock.advance(6)
    for n in range(7, 31):
        await store.append("c", message(n))
    backend.clock.advance(5)  # 1-6 are 11 s old: expired
    page = await store.read("c", since=(0, epoch), limit=4)
    assert page.recovered is False
    seen: list[int] = []
    while True:
        seen += offsets(page)
        if len(page.messages) < 4:
            break
        page = await store.read("c", since=(seen[-1], epoch), limit=4)
        assert page.recovered is True
    assert seen == list(range(7, 31))
