"""Issue 13, finding 8: ``presence.query`` is paged (``limit``, ``cursor``) and bounded.

Before, 26 bytes in gave 7.2 MB out: every client's metadata in one frame.
"""

from __future__ import annotations

import contextlib
import json

from support import ask, raw_client

from praison_push.client import AsyncPushClient
from praison_push.config import GatewayConfig, LimitsConfig

from .helpers import Serve

CLIENTS = 40
METADATA = {"blob": "x" * 8_000}  # each entry ~8 KB: 320 KB for all of them


async def test_presence_query_is_paged_and_each_page_is_bounded(serve: Serve) -> None:
    limits = LimitsConfig(presence_page_size=25, presence_page_max_bytes=64 * 1024)
    gateway = serve(GatewayConfig(limits=limits))
    async with contextlib.AsyncExitStack() as stack:
        for n in range(CLIENTS):
            ws = await stack.enter_async_context(raw_client(f"{gateway.url}?client_id=c{n:02}"))
            ack = await ask(ws, "presence.heartbeat", metadata=METADATA)
            assert ack["type"] == "presence.heartbeat_ack", ack
        query = json.dumps({"type": "presence.query"})
        assert len(query) == 26  # the attack's size
        await ws.send(query)
        text = str(await ws.recv())
        while '"presence.list"' not in text:
            text = str(await ws.recv())
        assert len(text) <= 64 * 1024 + 1024, len(text)  # not 320 KB
        first = json.loads(text)
        assert 1 <= len(first["presence"]) < CLIENTS and "next_cursor" in first
        seen = [entry["client_id"] for entry in first["presence"]]
        cursor = first["next_cursor"]
        pages = 1
        while cursor is not None:
            page = await ask(ws, "presence.query", cursor=cursor, limit=1000)
            assert page["type"] == "presence.list", page
            seen += [entry["client_id"] for entry in page["presence"]]
            cursor = page.get("next_cursor")
            pages += 1
        assert seen == sorted(f"c{n:02}" for n in range(CLIENTS))  # each once, in order
        assert pages >= 5
        small = await ask(ws, "presence.query", limit=3)
        assert [e["client_id"] for e in small["presence"]] == ["c00", "c01", "c02"]
        assert small["next_cursor"] == "c02"
        too_many = await ask(ws, "presence.query", limit=5000)
        assert too_many["code"] == "invalid_field" and too_many["details"]["field"] == "limit"
        # The package's client reads every page.
        async with AsyncPushClient(gateway.url, client_id="reader") as client:
            snapshot = await client.get_presence()
            assert len({p.client_id for p in snapshot}) == CLIENTS + 1
