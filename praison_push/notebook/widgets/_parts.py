"""The pieces a widget's state is made of, each able to say what changed.

A widget's state is a few named *parts*; each part keeps its full value and
the change since it was last taken. The flusher takes the changes of every
part at most ~20 times a second and ships them as one delta; a snapshot is
every part's full value. Both use one small vocabulary the front end
(``static/widgets.js``) applies with the same function, so a snapshot is just
"a delta applied to empty parts":

* text — ``{"append": str}`` (delta) or ``{"text": str}`` (replace; snapshot);
* meta — ``{"values": {key: value}}`` (changed keys; all keys in a snapshot);
* rows — ``{"clear": true, "remove": [id], "upsert": [row], "limit": n}``,
  applied in that order, rows keyed by their ``"id"``, oldest first, the
  oldest dropped beyond ``limit`` (by both sides, so a trim costs no bytes).

Parts are not thread-safe on their own: the owning widget holds its lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

__all__ = ["MetaPart", "Part", "RowsPart", "TextPart"]

#: A row's key: the front end keys its ``Map`` by it, so keep it a str or an int.
RowId = str | int


class Part(Protocol):
    """What a widget needs from each part of its state."""

    def take(self) -> dict[str, Any] | None:
        """The change since the last ``take`` (``None`` when nothing changed), then forget it."""

    def snapshot(self) -> dict[str, Any]:
        """The full value, in the delta vocabulary."""


class TextPart:
    """Append-only text: a delta carries only what was appended since the last one.

    This is what keeps the bytes sent per token constant however long the
    text grows. The text is kept as chunks and joined only when read.
    """

    def __init__(self, text: str = "") -> None:
        self._chunks: list[str] = [text] if text else []
        self._pending: list[str] = []
        self._replaced = False
        self._length = len(text)

    def __len__(self) -> int:
        return self._length

    @property
    def value(self) -> str:
        """The whole text."""
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    def append(self, text: str) -> None:
        """Add ``text`` at the end."""
        if not text:
            return
        self._chunks.append(text)
        self._length += len(text)
        if not self._replaced:
            self._pending.append(text)

    def replace(self, text: str) -> None:
        """Set the whole text (the next delta carries all of it, once)."""
        self._chunks = [text] if text else []
        self._length = len(text)
        self._pending.clear()
        self._replaced = True

    def take(self) -> dict[str, Any] | None:
        """``{"text": …}`` after a replace, ``{"append": …}`` after appends, else ``None``."""
        if self._replaced:
            self._replaced = False
            return {"text": self.value}
        if not self._pending:
            return None
        appended = "".join(self._pending)
        self._pending.clear()
        return {"append": appended}

    def snapshot(self) -> dict[str, Any]:
        """``{"text": the whole text}``."""
        return {"text": self.value}


class MetaPart:
    """A small dict of scalar facts (status, counts); a delta carries the changed keys."""

    def __init__(self, **values: Any) -> None:
        self._values: dict[str, Any] = dict(values)
        self._changed: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key``, or ``default``."""
        return self._values.get(key, default)

    @property
    def values(self) -> dict[str, Any]:
        """A copy of every value."""
        return dict(self._values)

    def update(self, **values: Any) -> None:
        """Set the given keys; only keys whose value differs count as a change."""
        for key, value in values.items():
            if key not in self._values or self._values[key] != value:
                self._values[key] = value
                self._changed[key] = value

    def take(self) -> dict[str, Any] | None:
        """``{"values": changed keys}``, or ``None``."""
        if not self._changed:
            return None
        changed, self._changed = self._changed, {}
        return {"values": changed}

    def snapshot(self) -> dict[str, Any]:
        """``{"values": every key}``."""
        return {"values": dict(self._values)}


class RowsPart:
    """Rows keyed by ``"id"`` in insertion order, optionally bounded to the newest ``limit``.

    A delta names only the rows added or changed (and removed) since the last
    one; rows that were added and already trimmed away in between are never
    sent at all.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1 or None, got {limit!r}")
        self.limit = limit
        self._rows: dict[RowId, dict[str, Any]] = {}
        self._cleared = False
        self._removed: dict[RowId, None] = {}
        self._upserted: dict[RowId, None] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._rows

    def get(self, row_id: RowId) -> dict[str, Any] | None:
        """The row with this id, if kept."""
        return self._rows.get(row_id)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, oldest first."""
        return [dict(row) for row in self._rows.values()]

    def upsert(self, row: Mapping[str, Any]) -> None:
        """Add ``row`` (at the end) or update the kept row with the same ``"id"`` in place."""
        row_id = row["id"]
        kept = self._rows.get(row_id)
        if kept is None:
            self._rows[row_id] = dict(row)
            self._trim()
        else:
            kept.update(row)
        if row_id in self._rows:
            self._upserted[row_id] = None

    def remove(self, row_ids: Iterable[RowId]) -> None:
        """Drop the rows with these ids (unknown ids are ignored)."""
        for row_id in row_ids:
            if self._rows.pop(row_id, None) is not None:
                self._upserted.pop(row_id, None)
                self._removed[row_id] = None

    def clear(self) -> None:
        """Drop every row."""
        self._rows.clear()
        self._upserted.clear()
        self._removed.clear()
        self._cleared = True

    def _trim(self) -> None:
        if self.limit is None:
            return
        while len(self._rows) > self.limit:
            oldest = next(iter(self._rows))
            del self._rows[oldest]
            # The front end trims the same row by itself; only an id it may not
            # have seen yet needs no mention at all.
            self._upserted.pop(oldest, None)

    def take(self) -> dict[str, Any] | None:
        """``{"clear"?, "remove"?, "upsert"?}`` since the last take, or ``None``."""
        delta: dict[str, Any] = {}
        if self._cleared:
            delta["clear"] = True
        if self._removed:
            delta["remove"] = list(self._removed)
        if self._upserted:
            delta["upsert"] = [dict(self._rows[row_id]) for row_id in self._upserted]
        self._cleared = False
        self._removed.clear()
        self._upserted.clear()
        return delta or None

    def snapshot(self) -> dict[str, Any]:
        """``{"upsert": every row, "limit": limit}``."""
        return {"upsert": self.rows, "limit": self.limit}
