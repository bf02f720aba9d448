"""Connection and slowloris floods (issue 13, Build 8), bounded and on loopback only.

The attacker connects from 127.0.0.2, legitimate clients from 127.0.0.1 (both
loopback; the exemption is turned off so the per-IP limits apply to each). The
limits hold while the legitimate clients connect, publish and receive. Counts
are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import psutil
from support import ask, raw_client, timeout, wait_until, works

from praison_push.config import LimitsConfig

from .helpers import Serve, messages

ATTACKER = ("127.0.0.2", 0)
PARTIAL_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
)
LEGIT = 20


def _sockets_we_can_hold(wanted: int) -> int:
    """``wanted``, or fewer if this process cannot hold twice that many descriptors
    (each flood socket has its gateway side here too); the soft limit is raised first."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 2 * wanted + 256 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(100, min(wanted, (soft - 256) // 2))


async def _legit_clients_work(url: str) -> int:
    """``LEGIT`` clients connect; one more publishes, all receive. Returns how many did."""
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(raw_client(url)) for _ in range(LEGIT)]
        for ws in clients:
            subscribed = await ask(ws, "channel.subscribe", channel="legit")
            assert subscribed["type"] == "channel.subscribed", subscribed
        publisher = await stack.enter_async_context(raw_client(url))
        receipt = await ask(publisher, "channel.publish", channel="legit", data="hi")
        assert receipt["type"] == "channel.published", receipt
        delivered = 0
        for ws in clients:
            [message] = await messages(ws, 1)
            assert message["data"] == "hi"
            delivered += 1
        return delivered


async def _attempt(port: int) -> str:
    """One flood connection asking for /health: ``"served"`` or ``"refused"``."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=ATTACKER)
    except OSError:
        return "refused"
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.read(12), timeout(5))
    except (OSError, asyncio.TimeoutError):
        head = b""
    finally:
        writer.close()
    return "served" if head.startswith(b"HTTP/1.1 200") else "refused"


async def test_a_connection_flood_is_cut_to_the_per_ip_rate_while_others_connect(
    serve: Serve, report: Callable[[str], None]
) -> None:
    limits = LimitsConfig(loopback_exempt=False, connect_burst_per_ip=50, connect_rate_per_ip=20)
    gateway = serve(limits=limits)
    attempts = _sockets_we_can_hold(1000)
    started = time.monotonic()
    flood = asyncio.gather(*(_attempt(gateway.port) for _ in range(attempts)))
    delivered = await _legit_clients_work(gateway.url)
    outcomes = await flood
    elapsed = time.monotonic() - started
    served, refused = outcomes.count("served"), outcomes.count("refused")
    report(
        f"\nconnection flood: {attempts} attempts from 127.0.0.2 in {elapsed:.2f}s: "
        f"{served} served, {refused} refused; legit: {delivered}/{LEGIT} clients received"
    )
    assert delivered == LEGIT
    assert served <= 50 + 20 * elapsed + 5
    assert refused >= attempts - (50 + 20 * elapsed + 5)


async def test_a_slowloris_flood_times_out_and_legitimate_clients_get_in(
    serve: Serve, report: Callable[[str], None]
) -> None:
    limits = LimitsConfig(
        loopback_exempt=False, header_timeout=1.0, connect_burst_per_ip=2000, connect_rate_per_ip=1
    )
    gateway = serve(limits=limits)
    process = psutil.Process()
    fds_before = process.num_fds()
    count = _sockets_we_can_hold(800)
    streams = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gateway.port, local_addr=ATTACKER
        )
        writer.write(PARTIAL_UPGRADE)
        streams.append((reader, writer))
    started = time.monotonic()
    fds_peak = process.num_fds()
    delivered = await _legit_clients_work(gateway.url)  # while they hang

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            return await reader.read(1) == b""
        except ConnectionError:
            return True

    results = await asyncio.wait_for(
        asyncio.gather(*(closed(reader) for reader, _ in streams)), timeout(10)
    )
    took = time.monotonic() - started
    for _, writer in streams:
        writer.close()
    await wait_until(lambda: process.num_fds() <= fds_before + 10, what="descriptors released")
    report(
        f"\nslowloris: {count} partial upgrades from 127.0.0.2, all closed by the gateway within "
        f"{took:.2f}s (header_timeout=1.0); fds {fds_before} -> {fds_peak} -> "
        f"{process.num_fds()}; legit: {delivered}/{LEGIT} clients received"
    )
    assert all(results)
    assert delivered == LEGIT
    async with raw_client(gateway.url) as ws:
        await works(ws)
