"""What the hub spends on one inbound frame: in-process, no socket, no server.

The wire benchmarks (``acks.py``, ``delivery.py``) measure a gateway process
from outside; on a shared machine their rounds swing by ±30 %, more than a
change to the codec or the hub moves them. This one feeds frame texts straight
to ``Hub.receive`` (the call the WebSocket endpoint makes for each frame) and
times only that, so such a change shows:

* ``ack batch``: a tracked subscriber's ``message_ack`` of ``--ids`` (10) pending
  deliveries, ``"reply": false`` (the package's clients send one every 100 ms);
* ``ping``: a request answered with a ``pong`` (the reply is queued, not sent).

``--subscribers`` (10) clients with ids of their own subscribe to one channel; a
publisher sends ``--messages`` (5,000) publications; then every delivery is
acknowledged in batches, and every one must end settled. Each round is a fresh
hub; the table shows the median and the least CPU µs per frame over
``--rounds`` (5). Unlike the other scripts this one imports ``praison_push``:
what it measures is the package's own code.

Run ``python bench/hub_frames.py --help``; results go to ``bench/results/hub_frames.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence

from _common import (
    RESULTS_DIR,
    Session,
    add_run_options,
    fmt,
    pick_cores,
    render_table,
    write_report,
)

from praison_push.backends import MemoryBroker, MemoryDeliveryStore, MemoryHistoryStore
from praison_push.config import GatewayConfig
from praison_push.hub import OPERATOR, Connection, Hub

DEFAULT_JSON = RESULTS_DIR / "hub_frames.json"
CHANNEL = "bench"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run measured (the JSON's ``meta.plan``)."""

    subscribers: int
    messages: int
    ids: int
    rounds: int


def _texts(connection: Connection) -> list[str]:
    """Everything queued to ``connection`` (so no send queue fills up)."""
    return list(connection.drain())


async def _timed(
    hub: Hub, frames: list[tuple[Connection, str]], replies: Connection
) -> tuple[float, int]:
    """CPU µs per frame for feeding ``frames`` to the hub in order, and how many
    frames ``replies`` was sent meanwhile (drained every 100 frames, untimed, so
    its send queue never fills).

    The garbage collector is off meanwhile, as ``timeit`` has it: a collection of
    the objects the set-up made would land on whichever frame triggers it.
    """
    receive = hub.receive
    spent = 0.0
    answered = 0
    gc.collect()
    gc.disable()
    try:
        for start in range(0, len(frames), 100):
            began = time.process_time()
            for connection, text in frames[start : start + 100]:
                await receive(connection, text)
            spent += time.process_time() - began
            answered += len(_texts(replies))
    finally:
        gc.enable()
    return spent / len(frames) * 1e6, answered


async def one_round(plan: Plan) -> dict[str, float]:
    """A fresh hub: deliveries to track, then the frames timed."""
    config = GatewayConfig()
    hub = Hub(
        config,
        history=MemoryHistoryStore(config.history),
        broker=MemoryBroker(),
        delivery=MemoryDeliveryStore(),
    )
    try:
        subscribers = [
            hub.connect(client_id=f"sub-{n}", principal=OPERATOR, peer="127.0.0.1")
            for n in range(plan.subscribers)
        ]
        publisher = hub.connect(client_id=None, principal=OPERATOR, peer="127.0.0.1")
        subscribe = json.dumps({"type": "channel.subscribe", "channel": CHANNEL})
        for connection in subscribers:
            await hub.receive(connection, subscribe)
        received: dict[Connection, list[str]] = {connection: [] for connection in subscribers}
        for n in range(plan.messages):
            publish = {"type": "channel.publish", "channel": CHANNEL, "data": {"seq": n}}
            await hub.receive(publisher, json.dumps(publish))
            _texts(publisher)
            for connection in subscribers:
                received[connection] += _texts(connection)
        acks: list[tuple[Connection, str]] = []
        for connection, texts in received.items():
            ids = [json.loads(text)["event_id"] for text in texts if "channel_message" in text]
            if len(ids) != plan.messages:
                raise SystemExit(f"a subscriber got {len(ids)} of {plan.messages} deliveries")
            for start in range(0, len(ids), plan.ids):
                batch = {"type": "message_ack", "event_ids": ids[start : start + plan.ids]}
                acks.append((connection, json.dumps({**batch, "reply": False})))
        ack_us, _ = await _timed(hub, acks, publisher)
        if hub.stats()["delivery"]["pending"] != 0 or any(map(_texts, subscribers)):
            raise SystemExit("some deliveries were not settled by their acks: nothing was measured")
        pings = [(publisher, json.dumps({"type": "ping", "ref": n})) for n in range(len(acks))]
        ping_us, pongs = await _timed(hub, pings, publisher)
        if pongs != len(pings):
            raise SystemExit(f"{pongs} answers to {len(pings)} pings: nothing was measured")
        return {"ack batch": ack_us, "ping": ping_us}
    finally:
        await hub.close()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--ids", type=int, default=10, help="ids per acknowledgement batch")
    parser.add_argument("--rounds", type=int, default=5)
    add_run_options(parser, DEFAULT_JSON)
    args = parser.parse_args(argv)
    if args.quick:
        args.subscribers, args.messages, args.rounds = 2, 100, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rounds, print the table, write the JSON."""
    args = _parse_args(argv)
    core, _ = pick_cores(args.no_pin)
    session = Session(core, core)
    plan = Plan(args.subscribers, args.messages, args.ids, args.rounds)
    rounds = [asyncio.run(one_round(plan)) for _ in range(args.rounds)]
    rows = [
        {
            "frame": kind,
            "frames_per_round": args.subscribers * -(-args.messages // args.ids),
            "us_per_frame": round(statistics.median(r[kind] for r in rounds), 2),
            "least_us_per_frame": round(min(r[kind] for r in rounds), 2),
            "rounds_us": [round(r[kind], 2) for r in rounds],
        }
        for kind in rounds[0]
    ]
    header = ("frame", "frames/round", "hub CPU µs/frame (median)", "least", "rounds")
    lines = [
        (
            row["frame"],
            fmt(row["frames_per_round"]),
            fmt(row["us_per_frame"], 2),
            fmt(row["least_us_per_frame"], 2),
            " ".join(fmt(cost, 2) for cost in row["rounds_us"]),
        )
        for row in rows
    ]
    print("\n".join(render_table(header, lines, left=1)))
    write_report(args.json, {"meta": session.meta(plan), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
