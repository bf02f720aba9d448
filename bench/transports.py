"""Transports compared: fan-out over WebSocket, SSE and HTTP long-poll, in one run.

For each transport a fresh gateway (``praison-push gateway --no-delivery``) is
started, pinned to one core; this process, pinned to the other, opens N
subscribers of one channel over that transport and one WebSocket publisher
that keeps ``--window`` publications in flight until M are out. Every
publication carries the time it was sent, so each delivery's latency is
measured on one clock. Reported per transport: deliveries/s (N × M over the
time from the first publish to the last delivery), p50/p99 latency, and lost
or duplicated deliveries; then long-poll and SSE as a share of WebSocket.

Over the wire only (raw ``websockets`` and ``httpx``), never importing
``praison_push``: what any client of these routes would see.

Run ``python bench/transports.py --help``; results go to ``bench/results/transports.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import websockets
from _common import (
    RESULTS_DIR,
    BenchError,
    Session,
    add_run_options,
    fmt,
    gateway_command,
    pick_cores,
    render_table,
    spawn_server,
    write_report,
)

DEFAULT_JSON = RESULTS_DIR / "transports.json"
CHANNEL = "bench"
TRANSPORTS = ("websocket", "sse", "polling")


@dataclasses.dataclass
class Plan:
    subscribers: int = 100
    messages: int = 1000
    window: int = 20
    timeout_s: float = 120.0


@dataclasses.dataclass
class Row:
    transport: str
    subscribers: int
    messages: int
    deliveries: int = 0
    loss: int = 0
    dups: int = 0
    seconds: float = 0.0
    deliveries_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    error: str | None = None


class Sink:
    """What the subscribers received: per subscriber the publication numbers, and latencies."""

    def __init__(self, subscribers: int) -> None:
        self.seen: list[set[int]] = [set() for _ in range(subscribers)]
        self.dups = 0
        self.latencies: list[float] = []
        self.count = 0
        self.last = 0.0
        self.done = asyncio.Event()
        self.expected = 0

    def take(self, index: int, frame: dict[str, Any]) -> None:
        if frame.get("type") != "channel_message" or frame.get("channel") != CHANNEL:
            return
        now = time.perf_counter()
        data = frame["data"]
        seen = self.seen[index]
        if data["n"] in seen:
            self.dups += 1
            return
        seen.add(data["n"])
        self.latencies.append(now - data["t"])
        self.count += 1
        self.last = now
        if self.count >= self.expected:
            self.done.set()


# --- subscribers ----------------------------------------------------------------------


async def ws_subscriber(url: str, index: int, sink: Sink, ready: Callable[[], None]) -> None:
    async with websockets.connect(url, max_queue=None, open_timeout=20) as ws:
        await ws.recv()  # the greeting
        await ws.send(json.dumps({"type": "channel.subscribe", "channel": CHANNEL, "ref": "s"}))
        while json.loads(await ws.recv()).get("ref") != "s":
            pass
        ready()
        async for raw in ws:
            sink.take(index, json.loads(raw))


async def sse_subscriber(
    http: httpx.AsyncClient, base: str, index: int, sink: Sink, ready: Callable[[], None]
) -> None:
    url = f"{base}/api/push/sse"
    timeout = httpx.Timeout(20.0, read=None)
    async with http.stream("GET", url, params={"channels": CHANNEL}, timeout=timeout) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "subscribed":
                    ready()
                elif event == "channel_message":
                    sink.take(index, json.loads(line[5:]))


class KeptAlive:
    """A minimal HTTP/1.1 client on one kept-alive connection (``POST`` with JSON).

    httpx costs ~1 ms of CPU per request: 100 long-polling subscribers in one
    process would measure httpx, not the gateway. This is what a lean client
    (a browser, a Go program) costs the gateway.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        self._writer.write(head + payload)
        status = await self._reader.readline()
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self._reader.readexactly(length)
        if b" 200 " not in status:
            raise BenchError(f"POST {path}: {status!r} {data[:200]!r}")
        answer: dict[str, Any] = json.loads(data)
        return answer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def poll_subscriber(base: str, index: int, sink: Sink, ready: Callable[[], None]) -> None:
    host, _, port = base.removeprefix("http://").partition(":")
    http = KeptAlive(host, int(port))
    poll = "/api/push/poll"
    try:
        token = (await http.post(f"{poll}/register", {}))["poll_token"]
        await http.post(f"{poll}/subscribe", {"poll_token": token, "channel": CHANNEL})
        ready()
        cursor = None
        while True:
            body: dict[str, Any] = {"poll_token": token, "timeout": 25}
            if cursor is not None:
                body["cursor"] = cursor
            reply = await http.post(f"{poll}/messages", body)
            cursor = reply["cursor"]
            for frame in reply["messages"]:
                sink.take(index, frame)
    finally:
        http.close()


# --- one transport ----------------------------------------------------------------------


async def publish(url: str, plan: Plan) -> float:
    """Publish ``plan.messages`` with ``plan.window`` in flight; when the first went out."""
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.recv()
        free = asyncio.Semaphore(plan.window)
        answered = 0

        async def read() -> None:
            nonlocal answered
            async for raw in ws:
                if json.loads(raw).get("type") == "channel.published":
                    answered += 1
                    free.release()
                    if answered == plan.messages:
                        return

        reader = asyncio.ensure_future(read())
        started = time.perf_counter()
        for n in range(plan.messages):
            await free.acquire()
            frame = {"n": n, "t": time.perf_counter()}
            await ws.send(
                json.dumps({"type": "channel.publish", "channel": CHANNEL, "data": frame})
            )
        await reader
        return started


async def measure(transport: str, url: str, plan: Plan) -> Row:
    base = url.replace("ws://", "http://").removesuffix("/ws")
    sink = Sink(plan.subscribers)
    sink.expected = plan.subscribers * plan.messages
    subscribed = 0
    all_ready = asyncio.Event()

    def ready() -> None:
        nonlocal subscribed
        subscribed += 1
        if subscribed == plan.subscribers:
            all_ready.set()

    limits = httpx.Limits(max_connections=plan.subscribers + 10, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        tasks = []
        for index in range(plan.subscribers):
            if transport == "websocket":
                work = ws_subscriber(url, index, sink, ready)
            elif transport == "sse":
                work = sse_subscriber(http, base, index, sink, ready)
            else:
                work = poll_subscriber(base, index, sink, ready)
            tasks.append(asyncio.ensure_future(work))
        row = Row(transport, plan.subscribers, plan.messages)
        try:
            await asyncio.wait_for(all_ready.wait(), 60)
            started = await asyncio.wait_for(publish(url, plan), plan.timeout_s)
            try:
                await asyncio.wait_for(sink.done.wait(), plan.timeout_s)
            except asyncio.TimeoutError:
                row.error = "timed out waiting for deliveries"
            failed = [t for t in tasks if t.done() and t.exception() is not None]
            if failed:
                row.error = f"subscriber failed: {failed[0].exception()!r}"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    row.deliveries = sink.count
    row.loss = sink.expected - sink.count
    row.dups = sink.dups
    row.seconds = max(sink.last - started, 1e-9)
    row.deliveries_per_s = sink.count / row.seconds
    if sink.latencies:
        ordered = sorted(sink.latencies)
        row.p50_ms = statistics.median(ordered) * 1000
        row.p99_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return row


def run(plan: Plan, server_core: int | None, transports: list[str], python: list[str]) -> list[Row]:
    rows = []
    for transport in transports:
        print(f"{transport}: {plan.subscribers} subscribers x {plan.messages} messages ...")
        command = gateway_command(["--no-delivery"], python)
        try:
            with spawn_server("gateway", command, server_core) as server:
                row = asyncio.run(measure(transport, server.url, plan))
        except (BenchError, OSError, asyncio.TimeoutError) as exc:
            row = Row(transport, plan.subscribers, plan.messages, error=repr(exc))
        rows.append(row)
        print(f"  {fmt(row.deliveries_per_s, 0)} deliveries/s, p99 {fmt(row.p99_ms)} ms")
    return rows


def format_table(rows: list[Row]) -> list[str]:
    header = ["transport", "subs", "msgs", "deliveries/s", "p50 ms", "p99 ms", "loss", "dups"]
    lines = [
        [
            r.transport,
            fmt(r.subscribers),
            fmt(r.messages),
            fmt(r.deliveries_per_s, 0),
            fmt(r.p50_ms),
            fmt(r.p99_ms),
            fmt(r.loss),
            fmt(r.dups),
        ]
        for r in rows
    ]
    return render_table(header, lines, left=1)


def ratios(rows: list[Row]) -> dict[str, float]:
    by = {r.transport: r for r in rows if r.error is None}
    ws = by.get("websocket")
    if ws is None or ws.deliveries_per_s <= 0:
        return {}
    return {
        f"{name}_vs_websocket": round(by[name].deliveries_per_s / ws.deliveries_per_s, 3)
        for name in ("sse", "polling")
        if name in by
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=Plan.subscribers)
    parser.add_argument("--messages", type=int, default=Plan.messages)
    parser.add_argument("--window", type=int, default=Plan.window)
    add_run_options(parser, DEFAULT_JSON, "20 subscribers x 100 messages")
    parser.add_argument(
        "--transports", default=",".join(TRANSPORTS), help="comma-separated, in this order"
    )
    parser.add_argument("--profile", type=Path, help="cProfile the gateway into this file")
    args = parser.parse_args(argv)
    plan = Plan(args.subscribers, args.messages, args.window)
    if args.quick:
        plan = Plan(20, 100, args.window, timeout_s=60.0)
    server_core, loadgen_core = pick_cores(args.no_pin)
    session = Session(server_core, loadgen_core)
    transports = [t for t in args.transports.split(",") if t in TRANSPORTS]
    python = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
    rows = run(plan, server_core, transports, python)
    print()
    print("\n".join(format_table(rows)))
    shares = ratios(rows)
    for name, value in shares.items():
        print(f"{name}: {value:.2f}")
    report = {
        "meta": session.meta(plan),
        "rows": [dataclasses.asdict(r) for r in rows],
        "ratios": shares,
    }
    write_report(args.json, report)
    return 0 if all(r.error is None and r.loss == 0 and r.dups == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
