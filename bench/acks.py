"""What an acknowledgement frame costs the gateway: CPU per ``message_ack`` received.

A gateway (``praison-push gateway``, its own process pinned to one core) tracks
the deliveries of ``--subscribers`` (20) clients with ids of their own; a
publisher sends ``--messages`` (3,000) publications, which every subscriber
reads. Then each subscriber acknowledges every delivery with a frame of its
own, each after the answer to the one before (so each arrives alone, as a
client's batch every 100 ms does; ``--burst`` sends them back to back), and a
``ping`` after the last one; the gateway's CPU time
across that phase, divided by the ack frames, is the figure (lower is better).
Every delivery must end settled (``acks_unknown`` 0), or the run measured
nothing.

The package's clients batch their acknowledgements (at most 100 ids, at most
100 ms apart), so this is the per-frame cost those batches pay; ``bench/delivery.py``
measures what tracking costs a whole fan-out. The orchestrator talks over the
wire only (``websockets``) and never imports ``praison_push``.

Run ``python bench/acks.py --help``; results go to ``bench/results/acks.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from _common import (
    RESULTS_DIR,
    Session,
    add_run_options,
    fmt,
    gateway_command,
    pick_cores,
    render_table,
    spawn_server,
    tree_cpu,
    write_report,
)
from websockets.asyncio.client import ClientConnection, connect

DEFAULT_JSON = RESULTS_DIR / "acks.json"


async def _ask(ws: ClientConnection, frame: dict[str, Any], reply: str) -> dict[str, Any]:
    await ws.send(json.dumps(frame))
    while (answer := json.loads(await ws.recv())).get("type") != reply:
        pass
    return dict(answer)


async def _dial(url: str) -> ClientConnection:
    ws = await connect(url, max_size=None, compression=None, max_queue=None)
    await ws.recv()  # the greeting
    return ws


async def _deliveries(ws: ClientConnection, count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        frame = json.loads(await ws.recv())
        if frame.get("type") == "channel_message":
            ids.append(frame["event_id"])
    return ids


async def _acknowledge(ws: ClientConnection, ids: list[str], paced: bool) -> int:
    """Ack each id in a frame of its own; ``paced``: wait for each answer before the next
    (each ack then arrives alone, as a real client's batch every 100 ms does)."""
    for n, event_id in enumerate(ids):
        if paced:
            await _ask(ws, {"type": "message_ack", "event_id": event_id, "ref": n}, "ack_received")
        else:
            await ws.send(f'{{"type":"message_ack","event_id":"{event_id}","reply":false}}')
    # The ping's answer comes after every ack before it was handled.
    await _ask(ws, {"type": "ping", "ref": "done"}, "pong")
    answer = await _ask(ws, {"type": "message_ack", "event_id": ids[0], "ref": 1}, "ack_received")
    return 0 if answer["unknown"] == ids[:1] else 1  # acknowledged already: settled


async def one_round(url: str, pid: int | None, args: argparse.Namespace, round_: int) -> float:
    """One round: the gateway's CPU µs per ack frame."""
    channel = f"acked.{round_}"
    subscribers = [
        await _dial(f"{url}?client_id=acker-{round_}-{n}") for n in range(args.subscribers)
    ]
    for ws in subscribers:
        await _ask(ws, {"type": "channel.subscribe", "channel": channel}, "channel.subscribed")
    publisher = await _dial(url)
    reading = [asyncio.ensure_future(_deliveries(ws, args.messages)) for ws in subscribers]
    for n in range(args.messages):
        await publisher.send(json.dumps({"type": "channel.publish", "channel": channel, "data": n}))
    ids = await asyncio.wait_for(asyncio.gather(*reading), args.timeout)
    before = tree_cpu(pid)
    unsettled = await asyncio.wait_for(
        asyncio.gather(
            *(_acknowledge(ws, got, args.paced) for ws, got in zip(subscribers, ids, strict=True))
        ),
        args.timeout,
    )
    spent = tree_cpu(pid) - before
    if any(unsettled):
        raise SystemExit("some deliveries were not settled by their acks: nothing was measured")
    for ws in (*subscribers, publisher):
        await ws.close()
    return spent / (args.subscribers * args.messages) * 1e6


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run measured (the JSON's ``meta.plan``)."""

    subscribers: int
    messages: int
    rounds: int
    paced: bool


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--messages", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per phase at most")
    parser.add_argument(
        "--burst", dest="paced", action="store_false", help="send the acks back to back"
    )
    add_run_options(parser, DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.messages, args.rounds = 3, 200, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds, print the table, write the JSON."""
    args = _parse_args(argv)
    server_core, loadgen_core = pick_cores(args.no_pin)
    session = Session(server_core, loadgen_core)
    with spawn_server("gateway", gateway_command(), server_core) as server:
        costs = [
            asyncio.run(one_round(server.url, server.pid, args, n)) for n in range(args.rounds)
        ]
    row = {
        "subscribers": args.subscribers,
        "ack_frames": args.subscribers * args.messages,
        "us_per_ack_frame": round(statistics.median(costs), 2),
        "rounds_us": [round(cost, 2) for cost in costs],
    }
    header = ("subs", "ack frames/round", "gateway CPU µs/ack (median)", "rounds")
    line = (
        fmt(row["subscribers"]),
        fmt(row["ack_frames"]),
        fmt(row["us_per_ack_frame"], 2),
        " ".join(fmt(cost, 1) for cost in costs),
    )
    print("\n".join(render_table(header, [line], left=0)))
    write_report(
        args.json,
        {
            "meta": session.meta(Plan(args.subscribers, args.messages, args.rounds, args.paced)),
            "rows": [row],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
