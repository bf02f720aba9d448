"""The embedded durable delivery store: pending deliveries in one SQLite file.

The notebook's and the single server's choice when deliveries must survive a
restart — or a ``kill -9`` — with no server to install
(``DeliveryConfig(store_path="push.db")``, ``praison-push gateway --store sqlite:push.db``).

Why it is built this way:

* **Off the event loop.** Every statement runs on one writer thread owned by
  the store; the hub hands it batches of changes (one transaction per batch)
  from behind the fan-out, so no publication ever waits for the disk.
* **WAL with ``synchronous=NORMAL``.** A commit is in the write-ahead log
  before :meth:`SQLiteDeliveryStore.write` returns, so a killed process loses
  nothing it committed (an operating-system crash may lose the last
  transactions, which ``synchronous=FULL`` would keep at a cost per batch).
* **Normalised.** A publication delivered to a thousand clients is stored
  once (``messages``) with a thousand small rows (``deliveries``); a trigger
  drops the message with its last delivery.

One gateway per file: SQLite locks it against concurrent writers, but sharing
pending deliveries between gateways is the Redis store's job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .base import (
    BackendUnavailableError,
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryChange,
    DeliveryRescheduled,
    PendingDelivery,
)

__all__ = ["SQLiteDeliveryStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    event_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    frame TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_expires ON messages (expires);
CREATE TABLE IF NOT EXISTS deliveries (
    client_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    retries INTEGER NOT NULL,
    due REAL NOT NULL,
    PRIMARY KEY (client_id, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries (event_id);
CREATE TRIGGER IF NOT EXISTS deliveries_gc AFTER DELETE ON deliveries
WHEN NOT EXISTS (SELECT 1 FROM deliveries WHERE event_id = OLD.event_id)
BEGIN
    DELETE FROM messages WHERE event_id = OLD.event_id;
END;
"""

_SELECT = (
    "SELECT d.client_id, d.event_id, m.channel, m.frame, m.recorded_at, m.expires, "
    "d.retries, d.due FROM deliveries d JOIN messages m ON m.event_id = d.event_id"
)


# Many keys go to SQLite as ONE statement over a JSON list, not one step per row:
# sqlite3 releases the GIL around every step, and while the event loop is busy
# each re-acquisition can wait a whole switch interval (5 ms), so a
# row-per-step ``executemany`` of 40,000 deliveries took minutes on a loaded
# machine instead of a fraction of a second.
_JSON_EACH = "json_each(?)"
_JSON_LIST = f"(SELECT value FROM {_JSON_EACH})"


class SQLiteDeliveryStore:
    """Pending deliveries in a SQLite file (see :class:`DeliveryStore`).

    Args:
        path: The database file (created, with its tables, when missing).

    Raises:
        ValueError: The file cannot be opened or is not a delivery store
            (raised at construction, so a gateway configured with a bad path
            fails at start, naming the path).
    """

    name = "sqlite"
    durable = True
    shared = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="praison-push-sqlite"
        )
        self._db: sqlite3.Connection | None = None
        self._closed = False
        try:
            self._executor.submit(self._open).result()
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=True)
            raise ValueError(
                f"cannot open the delivery store {str(self.path)!r} "
                f"(DeliveryConfig.store_path): {exc}"
            ) from exc

    def __repr__(self) -> str:
        return f"<SQLiteDeliveryStore {str(self.path)!r}>"

    # --- the writer thread -------------------------------------------------------------

    def _open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            _require_json(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` on the writer thread, inside one transaction (the publish
        de-duplication window, :class:`~.sqlite_dedup.SQLiteDedupStore`, shares the file)."""
        return await self._run(job)

    async def _run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` on the writer thread, inside one transaction."""
        if self._closed:
            raise BackendUnavailableError("the SQLite delivery store is closed")

        def in_transaction() -> T:
            db = self._db
            assert db is not None
            db.execute("BEGIN IMMEDIATE")
            try:
                result = job(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, in_transaction)
        except sqlite3.Error as exc:
            raise BackendUnavailableError(f"SQLite delivery store {self.path}: {exc}") from exc

    # --- the contract --------------------------------------------------------------------

    async def write(self, changes: Sequence[DeliveryChange]) -> None:
        if not changes:
            return
        changes = list(changes)
        await self._run(lambda db: _apply(db, changes))

    async def load(self, client_id: str) -> list[PendingDelivery]:
        rows = await self._run(
            lambda db: db.execute(f"{_SELECT} WHERE d.client_id = ?", (client_id,)).fetchall()
        )
        return [_pending(row) for row in rows]

    async def take(self, client_id: str, event_ids: Sequence[str]) -> list[PendingDelivery]:
        wanted = list(event_ids)

        def take(db: sqlite3.Connection) -> list[Any]:
            rows = db.execute(
                f"{_SELECT} WHERE d.client_id = ? AND d.event_id IN {_JSON_LIST}",
                (client_id, _json_list(wanted)),
            ).fetchall()
            _delete(db, [(row[0], row[1]) for row in rows])
            return rows

        order = {event_id: n for n, event_id in enumerate(wanted)}
        rows = sorted(await self._run(take), key=lambda row: order[row[1]])
        return [_pending(row) for row in rows]

    async def expire(self, now: float, limit: int) -> list[PendingDelivery]:
        def expire(db: sqlite3.Connection) -> list[Any]:
            rows = db.execute(
                f"{_SELECT} WHERE m.expires <= ? ORDER BY m.expires, d.event_id, d.client_id "
                "LIMIT ?",
                (now, limit),
            ).fetchall()
            _delete(db, [(row[0], row[1]) for row in rows])
            return rows

        return [_pending(row) for row in await self._run(expire)]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, close)
        self._executor.shutdown(wait=False)


def _apply(db: sqlite3.Connection, changes: list[DeliveryChange]) -> None:
    for change in changes:
        if isinstance(change, DeliveriesRecorded):
            if not change.client_ids:
                continue  # recorded for nobody: no message to keep
            db.execute(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?)",
                (
                    change.event_id,
                    change.channel,
                    json.dumps(change.frame, separators=(",", ":"), ensure_ascii=False),
                    change.recorded_at,
                    change.expires,
                ),
            )
            db.execute(
                f"INSERT OR IGNORE INTO deliveries SELECT value, ?, 0, ? FROM {_JSON_EACH}",
                (change.event_id, change.due, _json_list(change.client_ids)),
            )
        elif isinstance(change, DeliveriesSettled):
            _delete(db, [(change.client_id, event_id) for event_id in change.event_ids])
        elif isinstance(change, DeliveryRescheduled):
            db.execute(
                "UPDATE deliveries SET retries = ?, due = ? WHERE client_id = ? AND event_id = ?",
                (change.retries, change.due, change.client_id, change.event_id),
            )


def _delete(db: sqlite3.Connection, keys: list[tuple[str, str]]) -> None:
    by_client: dict[str, list[str]] = {}
    for client_id, event_id in keys:
        by_client.setdefault(client_id, []).append(event_id)
    for client_id, event_ids in by_client.items():
        db.execute(
            f"DELETE FROM deliveries WHERE client_id = ? AND event_id IN {_JSON_LIST}",
            (client_id, _json_list(event_ids)),
        )


def _require_json(db: sqlite3.Connection) -> None:
    """SQLite's JSON functions (built in since 3.38; JSON1 in mainstream older builds)."""
    try:
        db.execute("SELECT value FROM json_each('[]')").fetchall()
    except sqlite3.OperationalError as exc:
        raise sqlite3.OperationalError(
            f"this SQLite ({sqlite3.sqlite_version}) lacks the JSON functions the store uses"
        ) from exc


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def _pending(row: Any) -> PendingDelivery:
    client_id, event_id, channel, frame, recorded_at, expires, retries, due = row
    return PendingDelivery(
        client_id=client_id,
        event_id=event_id,
        channel=channel,
        frame=json.loads(frame),
        recorded_at=recorded_at,
        expires=expires,
        retries=retries,
        due=due,
    )
