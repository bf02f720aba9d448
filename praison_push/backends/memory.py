"""In-process backends: the default, for a single gateway (and notebooks).

History lives in a bounded deque per channel; the epoch is random per store,
so a restarted gateway tells reconnecting clients their positions are gone
(``recovered: false``) instead of silently replaying from a new offset 1.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import HistoryConfig
from .base import HistoryRead, HistoryStore, PublicationHandler

__all__ = ["MemoryBroker", "MemoryHistoryStore"]


@dataclass
class _ChannelHistory:
    entries: deque[tuple[float, dict[str, Any]]]
    last_offset: int = 0


class MemoryHistoryStore:
    """Bounded per-channel history in memory (see :class:`HistoryStore`).

    Args:
        config: Size (per channel) and TTL of the history.
        clock: Time source, injectable for tests.
    """

    def __init__(self, config: HistoryConfig, clock: Callable[[], float] = time.time) -> None:
        self._size = config.size
        self._ttl = config.ttl
        self._clock = clock
        self._channels: dict[str, _ChannelHistory] = {}
        self.epoch = secrets.token_hex(4)

    def _history(self, channel: str) -> _ChannelHistory:
        history = self._channels.get(channel)
        if history is None:
            history = _ChannelHistory(deque(maxlen=self._size or None))
            self._channels[channel] = history
        return history

    def _expire(self, history: _ChannelHistory, now: float) -> None:
        entries = history.entries
        horizon = now - self._ttl
        while entries and entries[0][0] < horizon:
            entries.popleft()

    async def append(self, channel: str, frame: dict[str, Any]) -> tuple[int, str]:
        history = self._history(channel)
        history.last_offset += 1
        frame["offset"] = history.last_offset
        frame["epoch"] = self.epoch
        if self._size:
            history.entries.append((self._clock(), frame))
        return history.last_offset, self.epoch

    async def read(
        self,
        channel: str,
        *,
        since: tuple[int, str] | None = None,
        limit: int | None = None,
    ) -> HistoryRead:
        history = self._channels.get(channel)
        if history is None:
            # Nothing was ever published here (in this epoch): any position in
            # another epoch is a gap; offset 0 of this epoch is complete.
            recovered = since is None or (since[1] == self.epoch and since[0] == 0)
            return HistoryRead([], 0, self.epoch, recovered)
        self._expire(history, self._clock())
        frames = [frame for _, frame in history.entries]
        if since is None:
            if limit is not None:
                frames = frames[-limit:] if limit else []
            return HistoryRead(frames, history.last_offset, self.epoch, True)
        offset, epoch = since
        if epoch != self.epoch or offset > history.last_offset:
            return HistoryRead([], history.last_offset, self.epoch, False)
        oldest = frames[0]["offset"] if frames else history.last_offset + 1
        recovered = offset + 1 >= oldest
        missed = [frame for frame in frames if frame["offset"] > offset]
        if limit is not None:
            missed = missed[:limit]
        return HistoryRead(missed, history.last_offset, self.epoch, recovered)

    async def close(self) -> None:
        self._channels.clear()


class MemoryBroker:
    """Delivers publications to this process only (see :class:`Broker`)."""

    def __init__(self) -> None:
        self._handler: PublicationHandler | None = None

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
