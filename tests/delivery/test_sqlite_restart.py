"""Acceptance: the SQLite store survives ``kill -9`` of the gateway (issue 12).

A real ``praison-push gateway --store sqlite:PATH`` process is killed with
unacknowledged deliveries and started again on the same port and file; the
client that reconnects gets them redelivered, and no duplicate reaches its
handler. A client that comes back as a new process gets them exactly once.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from redis_support import free_port
from support import wait_until

from praison_push.client import AsyncPushClient, ChannelMessage

from .helpers import STORM_BACKOFF, GatewayProcess, tapped

pytestmark = pytest.mark.e2e


def stored(db: Path, client_id: str) -> int:
    """Deliveries the gateway has committed for ``client_id`` (read beside it, WAL allows it)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM deliveries WHERE client_id = ?", (client_id,)
        ).fetchone()
    return int(row[0])


async def test_a_killed_gateway_redelivers_what_sqlite_kept(tmp_path: Path) -> None:
    db, port = tmp_path / "push.db", free_port()
    command = [
        *(sys.executable, "-m", "praison_push", "gateway"),
        *("--port", str(port), "--store", f"sqlite:{db}"),
    ]
    gateway = GatewayProcess(tmp_path / "gateway.log", command=command).start()
    wire: list[dict[str, object]] = []
    handled: list[ChannelMessage] = []
    durable = AsyncPushClient(
        gateway.url,
        client_id="durable",
        auto_ack=False,
        transport_factory=tapped(wire),
        backoff=STORM_BACKOFF,
    )
    publisher = AsyncPushClient(gateway.url, backoff=STORM_BACKOFF)
    await durable.connect()
    await publisher.connect()
    try:
        await durable.subscribe("orders", handled.append)
        for n in range(10):
            await publisher.publish("orders", {"order": n})
        await wait_until(lambda: len(handled) == 10)
        for message in handled[:3]:
            assert await message.ack() is True
        # The gateway committed the seven unacknowledged deliveries to the file.
        await wait_until(lambda: stored(db, "durable") == 7, 10)

        gateway.kill()
        gateway.start()  # same port, same file; a fresh process (its history is gone)
        unacked = {m.event_id for m in handled[3:]}
        await wait_until(
            lambda: {f["event_id"] for f in wire if f.get("_redelivered")} == unacked, 30
        )
        await publisher.list_channels()  # the publisher is back too: the gateway serves
        assert len(handled) == 10  # the redeliveries were dropped as duplicates
        for message in handled[3:]:
            assert await message.ack() is True  # the restarted gateway tracks them
        await wait_until(lambda: stored(db, "durable") == 0, 10)

        # Once more, and this time the client comes back as a new process.
        for n in range(10, 15):
            await publisher.publish("orders", {"order": n})
        await wait_until(lambda: len(handled) == 15)
        await wait_until(lambda: stored(db, "durable") == 5, 10)
        await durable.disconnect()
        gateway.kill()
        gateway.start()
        reborn: list[ChannelMessage] = []
        fresh = AsyncPushClient(gateway.url, client_id="durable", auto_ack=False)
        await fresh.connect()
        try:
            await fresh.subscribe("orders", reborn.append)
            await wait_until(lambda: len(reborn) == 5, 10)
            assert [m.data["order"] for m in reborn] == [10, 11, 12, 13, 14]
            assert all(m.redelivered for m in reborn)
            for message in reborn:
                assert await message.ack() is True
            await wait_until(lambda: stored(db, "durable") == 0, 10)
            assert len(reborn) == 5
        finally:
            await fresh.disconnect()
    finally:
        await durable.disconnect()
        await publisher.disconnect()
        gateway.kill()
    assert "Traceback" not in gateway.log.read_text()
