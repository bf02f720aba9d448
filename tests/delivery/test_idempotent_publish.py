"""Acceptance: idempotent publish across gateways and restarts (issue 12, item 4).

The same ``id`` is published on three gateway incarnations — two gateways on
one Redis and one of them ``kill -9``-ed and started again; a gateway on a
SQLite store killed and started twice — and is published once: every later
attempt is answered with the first receipt (``duplicate: true``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from redis_support import RedisServer, free_port
from support import ask, raw_client

from praison_push.config import GatewayConfig, PushConfig, RedisConfig

from .helpers import GatewayProcess

PUBLISHER = "?client_id=publisher"


async def publish(url: str, data: Any) -> dict[str, Any]:
    async with raw_client(url + PUBLISHER) as ws:
        return await ask(ws, "channel.publish", channel="orders", data=data, id="order-42")


async def history(url: str) -> list[dict[str, Any]]:
    async with raw_client(url) as ws:
        reply = await ask(ws, "channel.history", channel="orders")
        assert reply["type"] == "channel.history", reply
        messages: list[dict[str, Any]] = reply["messages"]
        return messages


def same_receipt(first: dict[str, Any], again: dict[str, Any]) -> None:
    assert again["type"] == "channel.published", again
    assert again["duplicate"] is True and again["delivered"] == 0
    assert (again["event_id"], again["offset"]) == (first["event_id"], first["offset"])


@pytest.mark.redis
async def test_one_id_on_three_gateway_incarnations_sharing_redis_is_published_once(
    redis_server: RedisServer, redis_prefix: str, tmp_path: Path
) -> None:
    redis = RedisConfig(url=redis_server.url, prefix=redis_prefix)
    config = GatewayConfig(port=free_port(), push=PushConfig(enabled=True, redis=redis))
    a = GatewayProcess(tmp_path / "a.log", config).start()
    b_config = config.model_copy(update={"port": free_port()})
    b = GatewayProcess(tmp_path / "b.log", b_config).start()
    try:
        first = await publish(a.url, {"n": 1})
        assert first["type"] == "channel.published" and "duplicate" not in first, first
        same_receipt(first, await publish(b.url, {"n": 2}))  # re-sent to another gateway
        a.kill()  # ... and after a crash, to its next incarnation
        a.start()
        same_receipt(first, await publish(a.url, {"n": 3}))
        messages = await history(b.url)
        assert [m["data"] for m in messages] == [{"n": 1}]
    finally:
        a.kill()
        b.kill()
    for gateway in (a, b):
        assert "Traceback" not in gateway.log.read_text()


@pytest.mark.e2e
async def test_one_id_on_three_incarnations_of_a_sqlite_gateway_is_published_once(
    tmp_path: Path,
) -> None:
    db, port = tmp_path / "push.db", free_port()
    command = [
        *(sys.executable, "-m", "praison_push", "gateway"),
        *("--port", str(port), "--store", f"sqlite:{db}"),
    ]
    gateway = GatewayProcess(tmp_path / "gateway.log", command=command).start()
    try:
        first = await publish(gateway.url, {"n": 1})
        assert first["type"] == "channel.published" and "duplicate" not in first, first
        for n in (2, 3):
            gateway.kill()  # kill -9: the window must be in the file already
            gateway.start()
            same_receipt(first, await publish(gateway.url, {"n": n}))
            assert await history(gateway.url) == []  # history is in memory: nothing new
    finally:
        gateway.kill()
    assert "Traceback" not in gateway.log.read_text()
