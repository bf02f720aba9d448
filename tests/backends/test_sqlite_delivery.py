"""The SQLite delivery store beyond the contract: WAL, off-loop writes, kill -9, bad paths."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support import timeout

from praison_push.backends import DeliveriesRecorded, SQLiteDeliveryStore, sqlite_delivery

#: A child that records deliveries, says so, then waits to be killed (never closing).
CHILD = """
import asyncio, sys
from praison_push.backends import DeliveriesRecorded, SQLiteDeliveryStore

async def main():
    store = SQLiteDeliveryStore(sys.argv[1])
    frame = {"type": "channel_message", "channel": "c", "data": 1, "event_id": "ev-1"}
    await store.write([DeliveriesRecorded("ev-1", "c", frame, 1.0, 99.0, 5.0, ["alice"])])
    print("written", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_a_committed_write_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "written"
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout(10)) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()

    async def read() -> list[str]:
        store = SQLiteDeliveryStore(path)
        try:
            return [d.event_id for d in await store.load("alice")]
        finally:
            await store.close()

    assert asyncio.run(read()) == ["ev-1"]


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    store = SQLiteDeliveryStore(tmp_path / "d.db")
    await store.close()
    with sqlite3.connect(tmp_path / "d.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_writes_run_off_the_event_loop(tmp_path: Path) -> None:
    store = SQLiteDeliveryStore(tmp_path / "d.db")
    seen: list[str] = []
    original = store._executor.submit

    def spy(fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        def record(*a, **k):  # type: ignore[no-untyped-def]
            seen.append(threading.current_thread().name)
            return fn(*a, **k)

        return original(record, *args, **kwargs)

    store._executor.submit = spy  # type: ignore[method-assign]
    frame = {"type": "channel_message", "event_id": "ev-1"}
    await store.write([DeliveriesRecorded("ev-1", "c", frame, 1.0, 2.0, 1.5, ["a"])])
    await store.close()
    assert seen and all(name.startswith("praison-push-sqlite") for name in seen)
    assert threading.current_thread().name not in seen


async def test_the_loop_keeps_running_while_a_batch_is_written(tmp_path: Path) -> None:
    store = SQLiteDeliveryStore(tmp_path / "d.db")
    clients = [f"client-{n}" for n in range(2000)]
    frame = {"type": "channel_message", "event_id": "x", "data": "y" * 200}
    batch = [DeliveriesRecorded(f"ev-{n}", "c", frame, 1.0, 2.0, 1.5, clients) for n in range(20)]
    ticks = 0

    async def busy() -> None:
        # A gateway under load: the loop thread is always running Python, so
        # the writer thread gets the GIL back only when the loop yields it.
        nonlocal ticks
        while True:
            sum(range(2000))
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.get_running_loop().create_task(busy())
    started = time.perf_counter()
    # 40,000 delivery rows. Written one statement step per row, each step gave
    # up the GIL and waited up to a switch interval for it back: minutes under
    # a busy loop (a CI run hit pytest-timeout's 120 s).
    await asyncio.wait_for(store.write(batch), timeout(5.0))
    elapsed = time.perf_counter() - started
    ticker.cancel()
    await store.close()
    # The loop ran other work while the rows were written on the writer thread.
    assert ticks > 10, (ticks, elapsed)


@pytest.mark.parametrize("where", ["missing-dir/d.db", "."])
def test_a_path_that_cannot_be_opened_is_named(tmp_path: Path, where: str) -> None:
    path = tmp_path / where
    with pytest.raises(ValueError, match="store_path") as caught:
        SQLiteDeliveryStore(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    path.write_bytes(b"not sqlite at all, " * 100)
    with pytest.raises(ValueError, match="cannot open the delivery store"):
        SQLiteDeliveryStore(path)


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SQLiteDeliveryStore(tmp_path / "d.db")
    await store.close()
    await store.close()  # idempotent
    from praison_push.backends import BackendUnavailableError

    with pytest.raises(BackendUnavailableError, match="closed"):
        await store.load("alice")


def test_a_sqlite_without_json_functions_is_named(tmp_path: Path) -> None:
    class NoJson:
        """A connection to a SQLite built without its JSON functions."""

        def execute(self, sql: str) -> Any:
            raise sqlite3.OperationalError("no such table: json_each")

    with pytest.raises(sqlite3.OperationalError, match="lacks the JSON functions") as caught:
        sqlite_delivery._require_json(NoJson())  # type: ignore[arg-type]
    assert sqlite3.sqlite_version in str(caught.value)
