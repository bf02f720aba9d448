"""What one stalled subscriber costs the others: fan-out with and without it.

A gateway (its own process, pinned to one core) is started with
``LimitsConfig.slow_consumer_policies = {"drop.*": "drop"}`` and a 4 MiB send
queue. ``--subscribers`` (20) readers subscribe to a channel and a publisher
sends ``--messages`` (3,000) publications of ``--size`` (8,000) bytes,
at most ``--window`` (50) unanswered; the time until every reader has every
publication gives deliveries/s. Scenarios, each on a channel of its own:

``alone``
    the readers only (the baseline);
``stalled-drop``
    plus one raw socket that subscribes to the ``drop`` channel and never reads
    again: it stays connected and misses what does not fit (``channel_gap``);
``stalled-disconnect``
    the same on a channel with the default policy: it is closed with 1013.

The ratio of each scenario to ``alone`` in the same run is the number to read
(issue 12: one stalled subscriber costs the others nothing measurable). The
orchestrator talks over the wire only (``websockets``) and never imports
``praison_push``; the gateway is started from a config given as JSON.

Run ``python bench/slow_consumers.py --help``; results go to
``bench/results/slow_consumers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from _common import (
    RESULTS_DIR,
    Session,
    add_run_options,
    fmt,
    pick_cores,
    render_table,
    spawn_server,
    write_report,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

DEFAULT_JSON = RESULTS_DIR / "slow_consumers.json"

_GATEWAY = """
import sys
from praison_push.config import GatewayConfig
from praison_push.server import run_gateway
config = GatewayConfig.model_validate_json(sys.argv[1])
run_gateway(config, on_ready=lambda url: print(f"listening on {url}", flush=True))
"""

SCENARIOS = {"alone": None, "stalled-drop": "drop.load", "stalled-disconnect": "plain.load"}


def gateway_config() -> str:
    limits = {
        "send_queue_max_bytes": 4 * 1024 * 1024,
        "slow_consumer_policies": {"drop.*": "drop"},
    }
    return json.dumps({"host": "127.0.0.1", "port": 0, "limits": limits, "demo_agents": False})


async def _read(ws: ClientConnection, last: int, progress: list[int], index: int) -> int:
    """Read until offset ``last`` arrived or was announced dropped; how many arrived.

    ``progress[index]`` follows the offset reached (the publisher keeps within
    ``--lag`` of the slowest reader). A reader that is too slow for the queue all
    the same misses some: it is told by a ``channel_gap``; they count as lost.
    """
    got = 0
    while progress[index] < last:
        frame = json.loads(await ws.recv())
        kind = frame.get("type")
        if kind == "channel_message":
            got += 1
        if kind in ("channel_message", "channel_gap"):
            progress[index] = max(progress[index], frame["offset"])
    return got


async def _ask(ws: ClientConnection, frame: dict[str, Any], reply: str) -> None:
    await ws.send(json.dumps(frame))
    while json.loads(await ws.recv()).get("type") != reply:
        pass


async def _fate(ws: ClientConnection) -> str:
    """Read the stalled socket's backlog at last: was it closed, or told of a gap?"""
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5.0))
            if frame.get("type") == "channel_gap":
                return "kept (channel_gap)"
    except asyncio.TimeoutError:
        return "kept (no gap)"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd.code}" if exc.rcvd is not None else "aborted"


async def _dial(url: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(url, max_size=None, compression=None, **kwargs)
    await ws.recv()  # the greeting
    return ws


async def scenario(url: str, name: str, args: argparse.Namespace, round_: int) -> dict[str, Any]:
    """One round: deliveries/s to the readers, and what became of the stalled socket."""
    channel = f"{SCENARIOS[name] or 'drop.alone'}.{round_}"  # fresh: offsets 1..messages
    readers = [await _dial(url) for _ in range(args.subscribers)]
    stalled = None
    if SCENARIOS[name] is not None:
        stalled = await _dial(url, max_queue=1)
        await _ask(stalled, {"type": "channel.subscribe", "channel": channel}, "channel.subscribed")
    for ws in readers:
        await _ask(ws, {"type": "channel.subscribe", "channel": channel}, "channel.subscribed")
    publisher = await _dial(url)
    body = "p" * args.size
    started = time.perf_counter()
    progress = [0] * len(readers)
    reading = [
        asyncio.ensure_future(_read(ws, args.messages, progress, index))
        for index, ws in enumerate(readers)
    ]
    sent = answered = 0
    while answered < args.messages:
        # The load generator is one process: keep its readers from falling so far
        # behind that they would be slow consumers themselves.
        while sent - min(progress) >= args.lag and not any(t.done() for t in reading):
            await asyncio.sleep(0.001)
        if any(t.done() and t.exception() for t in reading):
            await asyncio.gather(*reading)  # a reader failed (closed 1013?): say so
        while sent < args.messages and sent - answered < args.window:
            frame = {"type": "channel.publish", "channel": channel, "data": {"n": sent, "b": body}}
            await publisher.send(json.dumps(frame))
            sent += 1
        if json.loads(await publisher.recv()).get("type") == "channel.published":
            answered += 1
    received = sum(await asyncio.wait_for(asyncio.gather(*reading), args.timeout))
    elapsed = time.perf_counter() - started
    fate = "-"
    if stalled is not None:
        # One more publication: a dropped-for subscriber gets its gap notice before it.
        await _ask(publisher, {"type": "channel.publish", "channel": channel, "data": {}},
                   "channel.published")  # fmt: skip
        fate = await _fate(stalled)
    for ws in (*readers, publisher, *([stalled] if stalled else [])):
        ws.transport.abort()  # a stalled socket's close handshake would wait on its backlog
    deliveries = args.messages * args.subscribers
    lost = deliveries - received
    return {
        "scenario": name,
        "subscribers": args.subscribers,
        "messages": args.messages,
        "seconds": round(elapsed, 3),
        "deliveries_per_s": round(received / elapsed, 1),
        "readers_lost": lost,
        "stalled": fate,
    }


async def run(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--rounds`` alternating rounds of every scenario; the median round of each."""
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
    for round_ in range(args.rounds):
        for name in SCENARIOS:
            rounds[name].append(await scenario(url, name, args, round_))
    rows = []
    for results in rounds.values():
        results.sort(key=lambda row: row["deliveries_per_s"])
        rows.append(results[len(results) // 2])
    base = rows[0]["deliveries_per_s"]
    for row in rows:
        row["ratio_to_alone"] = round(row["deliveries_per_s"] / base, 3)
    return rows


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run measured (the JSON's ``meta.plan``)."""

    subscribers: int
    messages: int
    size: int
    window: int
    rounds: int


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--size", type=int, default=8_000, help="bytes per publication")
    parser.add_argument("--window", type=int, default=50, help="publishes unanswered at most")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--lag", type=int, default=200, help="publications the slowest reader may lag at most"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per round at most")
    add_run_options(parser, DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.messages, args.rounds = 5, 2_000, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every scenario, print the table, write the JSON."""
    args = _parse_args(argv)
    server_core, loadgen_core = pick_cores(args.no_pin)
    session = Session(server_core, loadgen_core)
    command = [sys.executable, "-c", _GATEWAY, gateway_config()]
    with spawn_server("gateway", command, server_core) as server:
        rows = asyncio.run(run(server.url, args))
    header = (
        "scenario",
        "subs",
        "msgs",
        "deliveries/s",
        "÷ alone",
        "readers lost",
        "stalled socket",
    )
    lines = [
        (
            row["scenario"],
            fmt(row["subscribers"]),
            fmt(row["messages"]),
            fmt(row["deliveries_per_s"], 0),
            fmt(row["ratio_to_alone"], 2),
            fmt(row["readers_lost"]),
            row["stalled"],
        )
        for row in rows
    ]
    print("\n".join(render_table(header, lines, left=1)))
    plan = Plan(args.subscribers, args.messages, args.size, args.window, args.rounds)
    write_report(args.json, {"meta": session.meta(plan), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
