"""Acknowledged delivery's and scale-out's cost: fan-out with tracking on vs off, and via Redis.

The same fan-out as ``bench/fanout.py`` (N subscribers, M publications, a
window of unanswered publishes; gateway pinned to one core, the picows load
generator to the other; over the wire only, never importing ``praison_push``),
against two gateways started fresh for every round:

``tracking-off``
    ``praison-push gateway --no-delivery``: plain pub/sub; the load
    generator's subscribers neither name themselves nor acknowledge.
``tracking-on``
    ``praison-push gateway`` (acknowledged delivery is on by default): every
    subscriber connects with a ``client_id`` of its own, so each delivery is
    tracked, and acknowledges what it receives as the package's clients do —
    a ``message_ack`` of at most 100 ids, at most 100 ms after a delivery.
``prebuilt``
    The true ceiling of ``bench/fanout.py``: a minimal server writing one
    pre-serialized frame to every subscriber's transport; issue 14's targets
    are tracking off ≥ 0.8 and tracking on (acking) ≥ 0.5 of it, in one run.
``redis-2x500``
    Two gateways on one ``redis-server`` (``bench/_cluster.py``; the three
    processes pinned together to the server core), tracking off, the N
    subscribers spread over both, the publisher on the first: half the
    deliveries cross gateways through Redis pub/sub.

Rounds alternate between the two (so drift on a shared machine hits both
alike); the median round of each is reported, and the ratio on ÷ off in the
same run is the number to compare (issue 12's target: at least 0.6), as is
``redis-2x500`` ÷ ``tracking-off`` (single-gateway memory mode); ``…_paired`` is
the median of the per-round ratios, steadier when the machine's load swings
between rounds, and ``cpu_efficiency_…`` compares the gateway's CPU per
delivery, which other work on the machine moves least. The JSON
also says how many acknowledgements the gateway confirmed (``acks_ok``): a
tracking-on run whose acknowledgements all came back ``ok: false`` would not
have measured tracking.

Run ``python bench/delivery.py --help``; results go to ``bench/results/delivery.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from _common import (
    RESULTS_DIR,
    BenchError,
    Session,
    add_run_options,
    fmt,
    free_port,
    pick_cores,
    write_report,
)
from _scenarios import FanoutSpec, Plan, Row, combine, run_fanout
from fanout import _failed, format_table

DEFAULT_JSON = RESULTS_DIR / "delivery.json"

#: Variant → (server, gateway arguments, load-generator arguments).
VARIANTS: dict[str, tuple[str, list[str], list[str]]] = {
    "tracking-off": ("gateway", ["--no-delivery"], []),
    "tracking-on": ("gateway", [], ["--ack"]),
    "redis-2x500": ("cluster", ["--no-delivery"], []),
    "prebuilt": ("prebuilt", [], []),
}
#: The variant every other one is compared with (single-gateway memory mode, plain pub/sub).
BASELINE = "tracking-off"


def _plan(base: Plan, variant: str) -> Plan:
    _, gateway_args, loadgen_args = VARIANTS[variant]
    return dataclasses.replace(
        base,
        gateway_args=[*base.gateway_args, *gateway_args],
        loadgen_args=[*base.loadgen_args, *loadgen_args],
        cluster_ports=[free_port(), free_port()],
    )


def run(base: Plan, variants: Sequence[str]) -> list[Row]:
    """``base.rounds`` alternating rounds of each variant; one combined row per variant."""
    rounds: dict[str, list[Row]] = {name: [] for name in variants}
    for index in range(base.rounds):
        for name in variants:
            if any(r.error for r in rounds[name]):
                continue
            print(f"round {index + 1}/{base.rounds}: {name} ...", flush=True)
            spec = FanoutSpec("fanout", base.subscribers, base.messages, base.window)
            server = VARIANTS[name][0]
            try:
                row = run_fanout(server, _plan(base, name), spec)
            except BenchError as exc:
                row = _failed("fanout", server, base.subscribers, base.messages, exc)
            row.server = name
            rounds[name].append(row)
            acks = row.details.get("acks_ok")
            print(f"  {fmt(row.deliveries_per_s, 0)} deliveries/s (acks ok: {acks})", flush=True)
    return [combine(rounds[name]) for name in variants]


def ratios(rows: Sequence[Row]) -> dict[str, float]:
    """Each variant ÷ the baseline (deliveries/s), and the CPU per delivery (median over
    the rounds), baseline ÷ it.

    ``deliveries_on_over_off`` is tracking on ÷ off (issue 12's target: ≥ 0.6).
    """
    by_name = {r.server: r for r in rows if r.error is None}
    off = by_name.get(BASELINE)
    out: dict[str, float] = {}
    for name, label in (("tracking-on", "on_over_off"), ("redis-2x500", "redis_over_memory")):
        row = by_name.get(name)
        if row and off and row.deliveries_per_s and off.deliveries_per_s:
            out[f"deliveries_{label}"] = round(row.deliveries_per_s / off.deliveries_per_s, 3)
        mine, theirs = _median_us(row), _median_us(off)
        if mine and theirs:
            out[f"cpu_efficiency_{label}"] = round(theirs / mine, 3)
        paired = _paired(row, off) if row and off else None
        if paired is not None:
            out[f"deliveries_{label}_paired"] = paired
    ceiling = by_name.get("prebuilt")
    for name, label in (("tracking-off", "off_over_prebuilt"), ("tracking-on", "on_over_prebuilt")):
        row = by_name.get(name)
        if row and ceiling and row.deliveries_per_s and ceiling.deliveries_per_s:
            out[f"deliveries_{label}"] = round(row.deliveries_per_s / ceiling.deliveries_per_s, 3)
    return out


def _median_us(row: Row | None) -> float | None:
    """The gateway's CPU µs per delivery: the median over the rounds."""
    if row is None:
        return None
    found = [r["server_us_per_delivery"] for r in row.details.get("rounds", [])]
    found = [us for us in found if us]
    if not found:
        return row.server_us_per_delivery
    return float(statistics.median(found))


def _paired(row: Row, base: Row) -> float | None:
    """The median of the per-round ratios (round i of ``row`` ÷ round i of ``base``).

    Rounds alternate, so each pair ran seconds apart: on a shared machine whose
    load swings between rounds this is steadier than the ratio of the medians.
    """
    mine = row.details.get("rounds", [])
    theirs = base.details.get("rounds", [])
    found = sorted(
        a["deliveries_per_s"] / b["deliveries_per_s"]
        for a, b in zip(mine, theirs, strict=False)
        if a.get("deliveries_per_s") and b.get("deliveries_per_s")
    )
    return round(statistics.median(found), 3) if found else None


def problems(rows: Sequence[Row]) -> list[str]:
    """What makes a run not count: loss, duplicates, tracking not exercised."""
    found: list[str] = []
    for row in rows:
        if row.error:
            continue
        if row.loss or row.dups:
            found.append(f"{row.server}: loss={row.loss} dups={row.dups}")
        details: dict[str, Any] = row.details
        if row.server == "tracking-on" and not details.get("acks_ok"):
            found.append("tracking-on: no acknowledgement came back ok (tracking not measured)")
    return found


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, help="subscribers N (default 1000)")
    parser.add_argument("--messages", type=int, help="publications M (default 200)")
    parser.add_argument("--window", type=int, default=8, help="max unanswered publishes")
    parser.add_argument("--rounds", type=int, help="rounds per variant, median shown (default 5)")
    parser.add_argument("--deadline", type=float, default=60.0, help="max seconds per run")
    parser.add_argument("--gateway-arg", action="append", default=[], help="extra gateway arg")
    add_run_options(parser, DEFAULT_JSON, "tiny sizes for a smoke test")
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(VARIANTS),
        help=f"repeatable (default: all); {BASELINE} is always run, as the baseline",
    )
    args = parser.parse_args(argv)
    args.variants = [BASELINE, *(v for v in VARIANTS if v in (args.variant or VARIANTS))]
    args.variants = list(dict.fromkeys(args.variants))
    server_core, loadgen_core = pick_cores(args.no_pin)
    plan = Plan(
        subscribers=args.subscribers or (50 if args.quick else 1000),
        messages=args.messages or (20 if args.quick else 200),
        window=args.window,
        burst=(0, 0),
        wide=(0, 0),
        rate_subscribers=0,
        rate=0.0,
        rate_seconds=0.0,
        single_messages=0,
        idle_sizes=[],
        join_sizes=[],
        settle=0.0,
        servers=list(VARIANTS),  # the variants (rows are named by them)
        scenarios=["fanout"],
        url=None,
        server_core=server_core,
        loadgen_core=loadgen_core,
        gateway_args=args.gateway_arg,
        parse="regex",
        deadline=args.deadline,
        rounds=args.rounds or (1 if args.quick else 5),
        max_connections=0,
    )
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run both variants, print the table and the ratio, write the JSON."""
    args, plan = _parse_args(argv)
    session = Session(plan.server_core, plan.loadgen_core)
    rows = run(plan, args.variants)
    print()
    print(format_table(rows))
    ratio = ratios(rows)
    for key, value in ratio.items():
        print(f"{key}: {value:.3f}")
    found = problems(rows)
    for problem in found:
        print(f"! {problem}")
    report = {
        "meta": session.meta(plan),
        "rows": [dataclasses.asdict(r) for r in rows],
        "ratios": ratio,
        "problems": found,
    }
    write_report(args.json, report)
    return 1 if found or any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
