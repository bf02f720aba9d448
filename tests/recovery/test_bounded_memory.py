"""Bounded memory: in-memory history stays within ``HistoryConfig.max_memory_bytes``
(issue 12, item 6).

Before the bound, one client publishing to channels nobody listens on made the
gateway hold ``size`` frames of every channel for the history ``ttl``: 6,000 × 64 KB
grew the gateway by ~400 MB, for an hour.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis_support import free_port
from support import dial, expect

from praison_push.config import GatewayConfig, HistoryConfig
from tests.delivery.helpers import GatewayProcess

pytestmark = pytest.mark.e2e

BOUND = 32 * 1024 * 1024
#: What else a gateway may grow by while it takes 384 MB of publications
#: (allocator slack, buffers); far below the ~400 MB it held without the bound.
SLACK = 48 * 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def publish_many(url: str, count: int, start: int = 0) -> None:
    body = "x" * (63 * 1024)
    async with dial(url, max_size=None) as ws:
        await expect(ws, "connected")
        batch = 50
        for first in range(start, start + count, batch):
            for n in range(first, min(first + batch, start + count)):
                frame = {"type": "channel.publish", "channel": f"quiet-{n}", "data": body}
                await ws.send(json.dumps(frame))
            for _ in range(first, min(first + batch, start + count)):
                await expect(ws, "channel.published")


async def test_6000_publications_to_quiet_channels_stay_within_the_history_bound(
    tmp_path: Path,
) -> None:
    config = GatewayConfig(port=free_port(), history=HistoryConfig(max_memory_bytes=BOUND))
    gateway = GatewayProcess(tmp_path / "gateway.log", config).start()
    try:
        assert gateway.process is not None
        await publish_many(gateway.url, 300)  # warm-up: imports, buffers, first arenas
        baseline = rss(gateway.process.pid)
        await publish_many(gateway.url, 6_000, start=300)
        grown = rss(gateway.process.pid) - baseline
        assert grown < BOUND + SLACK, f"gateway grew by {grown / 2**20:.0f} MB"
    finally:
        gateway.kill()
