"""In-process backends: the default, for a single gateway (and notebooks).

History lives in a bounded deque per channel. Like the Redis store, each
channel has its own epoch, made when the channel's state is created; state is
dropped lazily once a channel goes quiet, and a channel created again gets a
new epoch, so ``(epoch, offset)`` never names two different messages. A
restarted gateway therefore tells reconnecting clients their positions are
gone (``recovered: false``) instead of silently replaying from a new offset 1.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import HistoryConfig
from ..protocol import encode_json
from .base import MIN_META_TTL, HistoryRead, HistoryStore, PublicationHandler, ReconnectHandler

__all__ = ["MemoryBroker", "MemoryHistoryStore"]

#: At most this many channels are moved along per stage on each append/read, so
#: the clean-up is amortised over the calls (each write makes at most two steps).
_SWEEP_BATCH = 8


#: What a stored frame holds besides its ``data`` (type, ids, time, offset, epoch), bytes.
_FRAME_OVERHEAD = 200


def _size(frame: dict[str, Any]) -> int:
    """About the encoded size of a stored frame, as ``max_memory_bytes`` counts it.

    Only ``data`` is measured (a string by its length, without encoding it):
    the rest of a frame is small and of about the same size every time.
    """
    data = frame.get("data")
    body = len(data) + 2 if isinstance(data, str) else len(encode_json(data))
    return body + len(str(frame.get("channel", ""))) + _FRAME_OVERHEAD


@dataclass(slots=True)
class _ChannelHistory:
    epoch: str
    #: ``(time, frame, size)``: the size (encoded bytes) counts against ``max_memory_bytes``.
    entries: deque[tuple[float, dict[str, Any], int]]
    last_offset: int = 0
    last_write: float = 0.0
    size: int = 0


class MemoryHistoryStore:
    """Bounded per-channel history in memory (see :class:`HistoryStore`).

    Each channel gets an epoch when its state is created: the store's current
    epoch (:attr:`epoch`, random per store). Entries older than ``ttl`` are
    dropped on append and read. A channel not written for ``ttl`` has its
    entries freed (its epoch and offset counter stay, so offsets keep counting
    while it is in use); one not written for ``meta_ttl`` is forgotten
    entirely. Both happen lazily: every append and read moves a few of the
    least recently written channels along (channels are kept in order of last
    write), so memory is bounded by what was written within ``meta_ttl`` with
    no background task.

    When a channel is forgotten and its epoch is still the store's current
    one, the store takes a new current epoch, so a channel created again never
    reuses an old ``(epoch, offset)``: old positions read ``recovered: false``.

    A channel never written (or forgotten) reads as offset 0 in the store's
    current epoch, without creating state; ``since=(0, epoch)`` of that epoch is
    complete, any other position is a gap. Such a position can turn into a gap
    later when the current epoch moves on (never a silent one).

    Args:
        config: Size (per channel) and TTL of the history.
        clock: Time source, injectable for tests.
        meta_ttl: How long a channel's epoch and offset survive its last write
            (default: the history TTL, but at least a day, as in Redis).
    """

    def __init__(
        self,
        config: HistoryConfig,
        clock: Callable[[], float] = time.time,
        *,
        meta_ttl: float | None = None,
    ) -> None:
        self._size = config.size
        self._ttl = config.ttl
        meta = max(config.ttl, MIN_META_TTL) if meta_ttl is None else meta_ttl
        self._meta_ttl = max(self._ttl, meta)
        self._max_bytes = config.max_memory_bytes
        self._bytes = 0
        #: Channels whose entries were dropped to stay within ``max_memory_bytes``.
        self.evicted = 0
        self._clock = clock
        # Channels that may hold entries, and channels whose entries were freed;
        # each in order of last write (least recent first).
        self._live: OrderedDict[str, _ChannelHistory] = OrderedDict()
        self._idle: OrderedDict[str, _ChannelHistory] = OrderedDict()
        self.epoch = secrets.token_hex(4)

    @property
    def held_bytes(self) -> int:
        """Encoded bytes of the frames held now (at most ``max_memory_bytes``, but for
        one frame larger than it)."""
        return self._bytes

    @property
    def channel_count(self) -> int:
        """Channels whose state is held now (for tests and metrics)."""
        return len(self._live) + len(self._idle)

    def _get(self, channel: str) -> _ChannelHistory | None:
        history = self._live.get(channel)
        return self._idle.get(channel) if history is None else history

    def _retire(self, epoch: str) -> None:
        """A channel in ``epoch`` lost its state: never hand that epoch out again."""
        if epoch == self.epoch:
            self.epoch = secrets.token_hex(4)

    def _sweep(self, now: float) -> None:
        """Free the entries of a few quiet channels and forget a few stale ones."""
        horizon = now - self._ttl
        for _ in range(_SWEEP_BATCH):
            if not self._live:
                break
            channel, history = next(iter(self._live.items()))
            if history.last_write >= horizon:
                break
            del self._live[channel]
            self._free(history)  # all of them are older than ttl
            self._idle[channel] = history
        forget = now - self._meta_ttl
        for _ in range(_SWEEP_BATCH):
            if not self._idle:
                break
            channel, history = next(iter(self._idle.items()))
            if history.last_write >= forget:
                break
            del self._idle[channel]
            self._retire(history.epoch)

    def _expire(self, history: _ChannelHistory, now: float) -> None:
        entries = history.entries
        horizon = now - self._ttl
        while entries and entries[0][0] < horizon:
            self._drop_oldest(history)

    def _drop_oldest(self, history: _ChannelHistory) -> None:
        size = history.entries.popleft()[2]
        history.size -= size
        self._bytes -= size

    def _free(self, history: _ChannelHistory) -> None:
        """Drop every entry of ``history`` (its epoch and offsets stay)."""
        history.entries.clear()
        self._bytes -= history.size
        history.size = 0

    def _evict(self, writing: _ChannelHistory) -> None:
        """Keep the held frames within ``max_memory_bytes``: the entries of the least
        recently written channels go first (a later read past them says
        ``recovered: false``), then the oldest of the channel being written."""
        while self._bytes > self._max_bytes and self._live:
            channel, history = next(iter(self._live.items()))
            if history is writing:
                while self._bytes > self._max_bytes and len(history.entries) > 1:
                    self._drop_oldest(history)
                return
            del self._live[channel]
            self._free(history)
            self._idle[channel] = history
            self.evicted += 1

    async def append(self, channel: str, frame: dict[str, Any]) -> tuple[int, str]:
        now = self._clock()
        self._sweep(now)
        history = self._live.get(channel)
        if history is not None:
            self._live.move_to_end(channel)
            self._expire(history, now)
        else:
            history = self._idle.pop(channel, None)
            if history is None:
                history = _ChannelHistory(self.epoch, deque())
            self._live[channel] = history
        history.last_offset += 1
        history.last_write = now
        frame["offset"] = history.last_offset
        frame["epoch"] = history.epoch
        if self._size:
            if len(history.entries) >= self._size:
                self._drop_oldest(history)
            size = _size(frame)
            history.entries.append((now, frame, size))
            history.size += size
            self._bytes += size
            if self._bytes > self._max_bytes:
                self._evict(history)
        return history.last_offset, history.epoch

    async def read(
        self,
        channel: str,
        *,
        since: tuple[int, str] | None = None,
        limit: int | None = None,
    ) -> HistoryRead:
        now = self._clock()
        self._sweep(now)
        history = self._get(channel)
        if history is None:
            # Nothing is held for this channel: offset 0 of the current epoch
            # is complete (a forgotten channel's epoch is never current), any
            # other position is a gap.
            recovered = since is None or (since[1] == self.epoch and since[0] == 0)
            return HistoryRead([], 0, self.epoch, recovered)
        epoch = history.epoch
        self._expire(history, now)
        frames = [frame for _, frame, _ in history.entries]
        if since is None:
            if limit is not None:
                frames = frames[-limit:] if limit else []
            return HistoryRead(frames, history.last_offset, epoch, True)
        offset, since_epoch = since
        if since_epoch != epoch or offset > history.last_offset:
            return HistoryRead([], history.last_offset, epoch, False)
        oldest = frames[0]["offset"] if frames else history.last_offset + 1
        recovered = offset + 1 >= oldest
        missed = [frame for frame in frames if frame["offset"] > offset]
        if limit is not None:
            missed = missed[:limit]
        return HistoryRead(missed, history.last_offset, epoch, recovered)

    async def close(self) -> None:
        self._live.clear()
        self._idle.clear()
        self._bytes = 0
        self.epoch = secrets.token_hex(4)  # positions given before are gone


class MemoryBroker:
    """Delivers publications to this process only (see :class:`Broker`).

    It has no connection to lose, so it never calls :attr:`on_reconnect`.
    """

    name = "memory"

    def __init__(self) -> None:
        self._handler: PublicationHandler | None = None
        self.on_reconnect: ReconnectHandler | None = None

    def set_handler(self, handler: PublicationHandler) -> None:
        self._handler = handler

    async def ready(self) -> None:
        """Always ready: there is no other node to hear from."""

    async def sync(self) -> None:
        """Nothing is ever in flight: ``publish`` delivers before it returns."""

    async def publish(self, channel: str, frame: dict[str, Any]) -> int:
        if self._handler is None:
            return 0
        return self._handler(channel, frame)

    async def append_and_publish(
        self, history: HistoryStore, channel: str, frame: dict[str, Any]
    ) -> int:
        # A memory store never yields, so nothing comes between the two.
        await history.append(channel, frame)
        return await self.publish(channel, frame)

    async def close(self) -> None:
        self._handler = None
