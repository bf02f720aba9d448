"""Fakes and probes for widget tests: runs, clients, and a Python front end.

:class:`FrontEnd` applies deltas and snapshots exactly as ``widgets.js``
does (same ops, same ``seq`` rules), so kernel-side tests can check that
what a widget sends rebuilds its state, without a browser.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from support import timeout

from praison_push.client import PresenceInfo
from praison_push.notebook.widgets import StreamWidget

#: The bound of every wait in these tests.
WAIT = timeout(5)


def wait_until(predicate: Callable[[], bool], seconds: float = WAIT, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"not reached within {seconds}s: {what}"
        time.sleep(0.005)


# --- what a widget sends --------------------------------------------------------------


@dataclass
class Sent:
    """One custom message a widget sent, its JSON size, and when."""

    content: dict[str, Any]
    size: int
    at: float


class Recorder:
    """Captures a widget's custom messages (``widget.send``) and snapshot trait updates."""

    def __init__(self, widget: StreamWidget) -> None:
        self.widget = widget
        self.sent: list[Sent] = []
        self.snapshots: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        widget.send = self._send  # type: ignore[method-assign]
        widget.observe(self._snapshot, names="snapshot")

    def _send(self, content: dict[str, Any], buffers: Any = None) -> None:
        size = len(json.dumps(content))
        with self._lock:
            self.sent.append(Sent(json.loads(json.dumps(content)), size, time.monotonic()))

    def _snapshot(self, change: dict[str, Any]) -> None:
        with self._lock:
            self.snapshots.append(json.loads(json.dumps(change["new"])))

    @property
    def deltas(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.content for s in self.sent if s.content.get("kind") == "delta"]


class FrontEnd:
    """``widgets.js``'s store, in Python: the same part ops and ``seq`` rules."""

    def __init__(self, snapshot: dict[str, Any] | None = None) -> None:
        self.seq = -1
        self.parts: dict[str, dict[str, Any]] = {}
        self.resync_requests = 0
        self.waiting = False
        if snapshot is not None:
            self.apply_snapshot(snapshot)

    @staticmethod
    def _new_part(op: dict[str, Any]) -> dict[str, Any]:
        if "append" in op or "text" in op:
            return {"type": "text", "text": ""}
        if "values" in op:
            return {"type": "meta", "values": {}}
        return {"type": "rows", "rows": {}, "limit": None}

    @staticmethod
    def apply_op(part: dict[str, Any], op: dict[str, Any]) -> None:
        if part["type"] == "text":
            if "text" in op:
                part["text"] = op["text"]
            part["text"] += op.get("append", "")
        elif part["type"] == "meta":
            part["values"].update(op["values"])
        else:
            rows: dict[Any, dict[str, Any]] = part["rows"]
            if "limit" in op:
                part["limit"] = op["limit"]
            if op.get("clear"):
                rows.clear()
            for row_id in op.get("remove", []):
                rows.pop(row_id, None)
            for row in op.get("upsert", []):
                if row["id"] in rows:
                    rows[row["id"]].update(row)
                else:
                    rows[row["id"]] = dict(row)
            while part["limit"] and len(rows) > part["limit"]:
                del rows[next(iter(rows))]

    def apply_snapshot(self, snapshot: dict[str, Any]) -> None:
        if snapshot["seq"] < self.seq:
            return
        self.parts = {}
        for name, op in snapshot["parts"].items():
            self.parts[name] = self._new_part(op)
            self.apply_op(self.parts[name], op)
        self.seq = snapshot["seq"]
        self.waiting = False

    def apply(self, message: dict[str, Any]) -> None:
        if message["seq"] <= self.seq:
            return
        if message["seq"] != self.seq + 1:
            if not self.waiting:
                self.waiting = True
                self.resync_requests += 1
            return
        for name, op in message["parts"].items():
            part = self.parts.setdefault(name, self._new_part(op))
            self.apply_op(part, op)
        self.seq = message["seq"]

    def text(self, name: str = "text") -> str:
        return str(self.parts[name]["text"])

    def meta(self) -> dict[str, Any]:
        return dict(self.parts["meta"]["values"])

    def rows(self, name: str) -> list[dict[str, Any]]:
        return list(self.parts[name]["rows"].values())


# --- sources -------------------------------------------------------------------------


@dataclass
class Event:
    """A run event shaped like ``praison_push.client.ExecutionEvent``."""

    kind: str
    data: dict[str, Any]
    timestamp: float = 0.0


@dataclass
class FakeExecution:
    """A run handle with the ``subscribe`` contract: past events replayed, then live ones."""

    execution_id: str = "exec_test"
    agent_id: str = "demo-test"
    status: str = "running"
    events: list[Event] = field(default_factory=list)
    callbacks: list[Callable[[Any], None]] = field(default_factory=list)
    unsubscribed: list[Callable[[Any], None]] = field(default_factory=list)

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        for event in list(self.events):
            callback(event)
        self.callbacks.append(callback)
        return callback

    def unsubscribe(self, callback: Callable[[Any], None]) -> bool:
        self.unsubscribed.append(callback)
        self.callbacks.remove(callback)
        return True

    def emit(self, kind: str, timestamp: float = 0.0, **data: Any) -> None:
        data = {"event": kind, "execution_id": self.execution_id, "agent_id": self.agent_id, **data}
        event = Event(kind, data, timestamp)
        self.events.append(event)
        for callback in list(self.callbacks):
            callback(event)

    def start(self) -> None:
        self.emit("execution_start", status="running")

    def tokens(self, tokens: Iterable[str], first_index: int = 0) -> None:
        for index, token in enumerate(tokens, first_index):
            self.emit("execution_token", token=token, index=index)

    def complete(self, output: str, latency_ms: int = 1234) -> None:
        usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
        self.emit(
            "execution_complete", status="completed", output=output, usage=usage,
            latency_ms=latency_ms,
        )  # fmt: skip


class FakeClient:
    """A blocking-client stand-in: ``on``/``off``, ``subscribe``, ``history``, ``get_presence``."""

    client_id = "me"

    def __init__(
        self,
        presence: Iterable[PresenceInfo] = (),
        history: dict[str, list[Any]] | None = None,
        fail_subscribe: Exception | None = None,
    ) -> None:
        self.handlers: dict[str, list[Callable[[Any], Any]]] = {}
        self.subscribed: list[str] = []
        self.presence = list(presence)
        self.backlog = history or {}
        self.fail_subscribe = fail_subscribe
        self.before_answer: Callable[[], None] | None = None

    def on(self, event: str) -> Callable[[Any], Any]:
        def register(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.handlers.setdefault(event, []).append(handler)
            return handler

        return register

    def off(self, event: str, handler: Callable[[Any], Any]) -> bool:
        self.handlers[event].remove(handler)
        return True

    def subscribe(self, channel: str, callback: Any = None) -> None:
        if self.fail_subscribe is not None:
            raise self.fail_subscribe
        self.subscribed.append(channel)

    def history(self, channel: str, *, limit: int | None = None) -> list[Any]:
        if self.before_answer is not None:
            self.before_answer()
        return list(self.backlog.get(channel, []))[-(limit or 10_000) :]

    def get_presence(self, channel: str | None = None) -> list[PresenceInfo]:
        if self.before_answer is not None:
            self.before_answer()
        return list(self.presence)

    def fire(self, event: str, payload: Any) -> None:
        for handler in list(self.handlers.get(event, [])):
            handler(payload)


class AsyncFakeClient(FakeClient):
    """The same, with the async client's coroutine methods."""

    async def subscribe(self, channel: str, callback: Any = None) -> None:  # type: ignore[override]
        FakeClient.subscribe(self, channel, callback)

    async def history(self, channel: str, *, limit: int | None = None) -> list[Any]:  # type: ignore[override]
        return FakeClient.history(self, channel, limit=limit)

    async def get_presence(self, channel: str | None = None) -> list[PresenceInfo]:  # type: ignore[override]
        return FakeClient.get_presence(self, channel)
