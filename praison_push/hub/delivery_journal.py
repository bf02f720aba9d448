"""The delivery tracker's journal: store writes behind the fan-out, in order, in batches.

Appending is all the fan-out does (a list append, no await); one writer task
hands what piled up to :meth:`DeliveryStore.write` — a few changes at a time
when the node is quiet, large batches under load (one transaction each in
SQLite, one pipeline in Redis), so the store keeps up without a timer.
Reads are journal entries too: a read runs once every change queued before
it is written, so it sees the node's latest word.

A store that fails a write is retried with backoff (about 2 s in all); then the
batch is dropped with an error in the log: those deliveries are no longer
tracked in the store, and their clients still recover them from history by
position. The queue is bounded too (:data:`MAX_QUEUED`): a store that cannot
keep up loses changes (counted and logged), never the gateway's memory — a lost
acknowledgement means one redelivery, dropped by the client as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar

from ..backends.base import (
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryChange,
    DeliveryRescheduled,
    DeliveryStore,
)

__all__ = ["Journal", "Recordable"]

logger = logging.getLogger("praison_push.hub")

T = TypeVar("T")

#: Most changes handed to the store in one write.
BATCH = 512
#: Delays before retrying a failed write (seconds); the batch is dropped after the last.
RETRY_DELAYS = (0.1, 0.4, 1.6)
#: Most changes waiting for the writer; past it new ones are dropped (and counted).
MAX_QUEUED = 200_000

_CHANGES = (DeliveriesRecorded, DeliveriesSettled, DeliveryRescheduled)


class Recordable(Protocol):
    """A tracked publication that turns into its store change when written."""

    def change(self) -> DeliveriesRecorded: ...


class _Read(Generic[T]):
    """A read queued behind the changes before it."""

    __slots__ = ("fn", "future")

    def __init__(
        self, fn: Callable[[DeliveryStore], Awaitable[T]], future: asyncio.Future[T]
    ) -> None:
        self.fn = fn
        self.future = future

    async def run(self, store: DeliveryStore) -> None:
        if self.future.done():
            return  # its reader gave up
        try:
            result = await self.fn(store)
        except Exception as exc:
            if not self.future.done():
                self.future.set_exception(exc)
        else:
            if not self.future.done():
                self.future.set_result(result)


class Journal:
    """Ordered, batched access to a :class:`DeliveryStore` from one writer task.

    Args:
        store: Where the changes go.
    """

    def __init__(self, store: DeliveryStore, *, max_queued: int = MAX_QUEUED) -> None:
        self._store = store
        self._max_queued = max_queued
        #: Changes dropped because the queue was full.
        self.dropped = 0
        self._ops: list[Any] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<Journal {len(self._ops)} queued store={self._store.name}>"

    @property
    def queued(self) -> int:
        """Entries waiting for the writer."""
        return len(self._ops)

    def start(self) -> None:
        """Start the writer on the running loop (idempotent)."""
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._wake = asyncio.Event()
        if self._ops:
            self._wake.set()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="praison-push-delivery-writer"
        )

    def record(self, message: Recordable) -> None:
        """Queue a tracked publication (the fan-out's one call)."""
        if self._closed or self._full():
            return
        self._ops.append(message)
        wake = self._wake
        if wake is not None and not wake.is_set():
            wake.set()

    def change(self, change: DeliveryChange) -> None:
        """Queue one change."""
        if self._closed or self._full():
            return
        self._ops.append(change)
        if self._wake is not None:
            self._wake.set()

    def _full(self) -> bool:
        if len(self._ops) < self._max_queued:
            return False
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            logger.error(
                "delivery store %s cannot keep up: %d change(s) dropped so far",
                self._store.name,
                self.dropped,
            )
        return True

    async def read(self, fn: Callable[[DeliveryStore], Awaitable[T]]) -> T:
        """Run ``fn(store)`` once every change queued before has been written."""
        if self._closed:
            return await fn(self._store)
        self.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._ops.append(_Read(fn, future))
        assert self._wake is not None
        self._wake.set()
        return await future

    async def close(self, timeout: float) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds), then stop."""
        if self._closed:
            return
        if self._task is not None and not self._task.done():
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(self.read(_barrier), timeout)
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ops:
            logger.warning("delivery store: %d change(s) not written at close", len(self._ops))
        self._ops = []

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            if not self._ops:
                wake.clear()
                await wake.wait()
                continue
            ops, self._ops = self._ops, []
            batch: list[DeliveryChange] = []
            for op in ops:
                if isinstance(op, _Read):
                    await self._write(batch)
                    batch = []
                    await op.run(self._store)
                    continue
                batch.append(op if isinstance(op, _CHANGES) else op.change())
                if len(batch) >= BATCH:
                    await self._write(batch)
                    batch = []
            await self._write(batch)

    async def _write(self, batch: list[DeliveryChange]) -> None:
        if not batch:
            return
        for delay in (*RETRY_DELAYS, None):
            try:
                await self._store.write(batch)
                return
            except Exception as exc:
                if delay is None:
                    logger.error(
                        "delivery store %s: dropped %d change(s) after retries: %s",
                        self._store.name,
                        len(batch),
                        exc,
                    )
                    return
                logger.warning(
                    "delivery store %s: write failed (%s); retrying in %.1fs",
                    self._store.name,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)


async def _barrier(store: DeliveryStore) -> None:
    """A read that reads nothing: returns once everything before it is written."""
