"""The publish de-duplication window in the SQLite delivery store's file.

A gateway whose pending deliveries survive a restart
(``DeliveryConfig(store_backend="sqlite")``) keeps its window there too, so a
publish re-sent after a crash is answered with its first receipt and
published once. Statements run on the delivery store's thread, one
transaction each (a claim is a committed row before the publish goes out).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..protocol import encode_json
from .sqlite_delivery import SQLiteDeliveryStore

__all__ = ["SQLiteDedupStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dedup (
    k TEXT PRIMARY KEY,
    receipt TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_expires ON dedup (expires);
"""

#: Expired rows are deleted every this many claims (besides the claimed key's own).
_SWEEP_EVERY = 256


class SQLiteDedupStore:
    """The de-duplication window of one gateway, durable across its restarts.

    Args:
        store: The delivery store whose file and thread it shares (not closed here).
    """

    name = "sqlite"
    shared = True  # by the gateway's later incarnations

    def __init__(self, store: SQLiteDeliveryStore) -> None:
        self._store = store
        self._ready = False
        self._claims = 0

    def __repr__(self) -> str:
        return f"<SQLiteDedupStore {str(self._store.path)!r}>"

    async def claim(
        self, channel: str, key: str, *, now: float, claim_ttl: float
    ) -> dict[str, Any] | None:
        name = f"{channel}\x00{key}"
        self._claims += 1
        sweep = self._claims % _SWEEP_EVERY == 0 or not self._ready

        def claim(db: sqlite3.Connection) -> str | None:
            self._prepare(db)
            if sweep:
                db.execute("DELETE FROM dedup WHERE expires <= ?", (now,))
            else:
                db.execute("DELETE FROM dedup WHERE k = ? AND expires <= ?", (name, now))
            inserted = db.execute(
                "INSERT OR IGNORE INTO dedup (k, receipt, expires) VALUES (?, '', ?)",
                (name, now + claim_ttl),
            )
            if inserted.rowcount == 1:
                return None
            row = db.execute("SELECT receipt FROM dedup WHERE k = ?", (name,)).fetchone()
            return "" if row is None else str(row[0])

        found = await self._store.run(claim)
        if found is None:
            return None
        receipt = json.loads(found) if found else {}
        return receipt if isinstance(receipt, dict) else {}

    async def remember(
        self, channel: str, key: str, receipt: dict[str, Any], *, now: float, window: float
    ) -> None:
        text = encode_json(receipt)

        def remember(db: sqlite3.Connection) -> None:
            self._prepare(db)
            db.execute(
                "INSERT OR REPLACE INTO dedup (k, receipt, expires) VALUES (?, ?, ?)",
                (f"{channel}\x00{key}", text, now + window),
            )

        await self._store.run(remember)

    async def release(self, channel: str, key: str) -> None:
        def release(db: sqlite3.Connection) -> None:
            self._prepare(db)
            db.execute("DELETE FROM dedup WHERE k = ?", (f"{channel}\x00{key}",))

        await self._store.run(release)

    async def close(self) -> None:
        return None

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Create the table on first use (on the store's thread)."""
        if not self._ready:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            self._ready = True
