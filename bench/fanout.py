"""Fan-out and idle-connection benchmark: the praison_push gateway against a ceiling.

Why it is built this way:

* The server under test, the load generator and this orchestrator are separate
  processes. The server is pinned to one core and the load generator
  (``_loadgen.py``, picows clients) to the other, so neither steals the
  other's CPU and the numbers describe the server.
* Every server is measured next to the "ceiling" (``_ceiling.py``): the
  cheapest correct Python server for the same frames (encode once,
  ``websockets.broadcast``), on the same core, in the same run. The ratio
  gateway ÷ ceiling is comparable across machines; raw deliveries/s are not.
* The benchmark talks to servers over the wire only (PROTOCOL.md §2) and never
  imports ``praison_push``, so it keeps working whatever the package's internals.
* Every wait is bounded and every child is stopped in ``finally`` (SIGINT,
  then SIGKILL of the whole process tree).

Scenarios:

``fanout``
    N subscribers on channel ``bench``; one publisher sends M publications with
    at most ``--window`` unanswered. Reports deliveries/s (frames received ÷
    time from first publish to last delivery), p50/p99 publish→delivery
    latency, loss and duplicates (exact, per subscriber and ``seq``), the
    server's peak RSS, and CPU use of server and load generator (a load
    generator near 100 % while the server idles would mean the run measured the
    load generator).
``idle``
    C connections that only receive the greeting; the server's RSS growth ÷ C
    is the memory cost of one idle connection.

Run ``python bench/fanout.py --help``; results go to ``bench/results/fanout.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    RESULTS_DIR,
    BenchError,
    LoadGen,
    PeakSampler,
    Server,
    Session,
    fmt,
    gateway_command,
    loadgen,
    pick_cores,
    render_table,
    serve,
    tree_rss,
    write_report,
)

LOADGEN = BENCH_DIR / "_loadgen.py"
CEILING = BENCH_DIR / "_ceiling.py"
DEFAULT_JSON = RESULTS_DIR / "fanout.json"
SERVERS = ("ceiling", "gateway")


@dataclasses.dataclass
class Plan:
    """What to run: sizes, servers and cores, resolved from the command line."""

    subscribers: int
    messages: int
    window: int
    idle_connections: int
    servers: list[str]
    scenarios: list[str]
    url: str | None
    server_core: int | None
    loadgen_core: int | None
    gateway_args: list[str]
    parse: str
    deadline: float
    rounds: int
    #: More arguments for the load generator (``bench/delivery.py``: ``--ack``).
    loadgen_args: list[str] = dataclasses.field(default_factory=list)


def _server_command(name: str, plan: Plan) -> list[str]:
    if name == "ceiling":
        return [sys.executable, str(CEILING), "--host", "127.0.0.1", "--port", "0"]
    return gateway_command(plan.gateway_args)


def _server(name: str, plan: Plan) -> contextlib.AbstractContextManager[Server]:
    """Start a fresh server (or adopt ``--url``), pinned to the server core; always stop it."""
    url = plan.url if name == "gateway" else None
    return serve(name, _server_command(name, plan), plan.server_core, url)


@contextlib.contextmanager
def _loadgen(args: Sequence[str], core: int | None, close_timeout: float) -> Iterator[LoadGen]:
    """Run the load generator for the duration of the block; it is always reaped."""
    with loadgen(LOADGEN, args, core, close_timeout) as child:
        yield child


# --------------------------------------------------------------------------- scenarios


@dataclasses.dataclass
class Row:
    """One line of the results table (and one object in the JSON)."""

    scenario: str
    server: str
    n: int
    m: int | None
    deliveries_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    loss: int | None = None
    dups: int | None = None
    peak_rss_mb: float | None = None
    kb_per_conn: float | None = None
    server_cpu_pct: float | None = None
    server_us_per_delivery: float | None = None
    loadgen_cpu_pct: float | None = None
    error: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def _run_fanout(name: str, plan: Plan) -> Row:
    row = Row("fanout", name, plan.subscribers, plan.messages)
    stall, quiet = 10.0, 2.0
    loadgen_args = [
        "fanout",
        "--subscribers",
        str(plan.subscribers),
        "--messages",
        str(plan.messages),
        "--window",
        str(plan.window),
        "--parse",
        plan.parse,
        "--stall",
        str(stall),
        "--quiet",
        str(quiet),
        "--deadline",
        str(plan.deadline),
        *plan.loadgen_args,
    ]
    with (
        _server(name, plan) as server,
        _loadgen([*loadgen_args, "--url", server.url], plan.loadgen_core, 20) as loadgen,
        PeakSampler(server.pid) as sampler,
    ):
        ready = loadgen.expect("ready", 30 + plan.subscribers / 50)
        result, cpu_s, wall = loadgen.go(server.pid, plan.deadline + stall + quiet + 15)
        if server.pid is not None:
            row.server_cpu_pct = round(100 * cpu_s / wall, 1)
            if result["received"]:
                row.server_us_per_delivery = round(1e6 * cpu_s / result["received"], 2)
    if server.pid is not None:
        row.peak_rss_mb = round(sampler.peak / 2**20, 1)
    row.deliveries_per_s = result["deliveries_per_s"]
    row.p50_ms = result["p50_ms"]
    row.p99_ms = result["p99_ms"]
    row.loss = result["loss"]
    row.dups = result["duplicates"]
    row.loadgen_cpu_pct = result["loadgen_cpu_pct"]
    row.details = {"connect_s": ready.get("connect_s"), **result}
    problems = [
        f"{key}={result[key]}"
        for key in ("publish_errors", "errors", "close_codes")
        if result.get(key)
    ]
    if result.get("published") != plan.messages:
        problems.append(f"published {result.get('published')}/{plan.messages}")
    if result.get("bad_frames"):
        problems.append(f"bad_frames={result['bad_frames']}")
    if problems:
        row.details["problems"] = problems
    return row


def _run_idle(name: str, plan: Plan) -> Row:
    row = Row("idle", name, plan.idle_connections, None)
    loadgen_args = ["idle", "--connections", str(plan.idle_connections)]
    with (
        _server(name, plan) as server,
        _loadgen([*loadgen_args, "--url", server.url], plan.loadgen_core, 30) as loadgen,
    ):
        loadgen.expect("warm", 30)
        before = tree_rss(server.pid)
        loadgen.send("go")
        ready = loadgen.expect("ready", 30 + plan.idle_connections / 50)
        after = tree_rss(server.pid)
        loadgen.send("close")
    accepted = int(ready["accepted"])
    row.details = {**ready, "rss_before": before, "rss_after": after}
    if server.pid and accepted:
        row.kb_per_conn = round((after - before) / accepted / 1024, 2)
        row.peak_rss_mb = round(after / 2**20, 1)
    if accepted != plan.idle_connections:
        row.details["problems"] = [f"accepted {accepted}/{plan.idle_connections}"]
    return row


def _combine(rounds: Sequence[Row]) -> Row:
    """One row from several rounds of a fan-out: the median round by deliveries/s.

    The median resists a round disturbed by other work on the machine; loss and
    duplicates are summed, since any of either in any round matters.
    """
    good = sorted((r for r in rounds if r.error is None), key=lambda r: r.deliveries_per_s or 0.0)
    if not good:
        return rounds[-1]
    row = dataclasses.replace(good[(len(good) - 1) // 2])
    row.loss = sum(r.loss or 0 for r in good)
    row.dups = sum(r.dups or 0 for r in good)
    row.peak_rss_mb = max(r.peak_rss_mb or 0.0 for r in good) or None
    row.details = {
        **row.details,
        "rounds": [
            {
                "deliveries_per_s": r.deliveries_per_s,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "loss": r.loss,
                "dups": r.dups,
                "server_cpu_pct": r.server_cpu_pct,
                "server_us_per_delivery": r.server_us_per_delivery,
                "loadgen_cpu_pct": r.loadgen_cpu_pct,
                "error": r.error,
            }
            for r in rounds
        ],
    }
    errors = [r.error for r in rounds if r.error]
    if errors:
        row.details["problems"] = [*row.details.get("problems", []), *errors]
    return row


def _failed(scenario: str, name: str, plan: Plan, exc: BenchError) -> Row:
    fanout = scenario == "fanout"
    return Row(
        scenario,
        name,
        plan.subscribers if fanout else plan.idle_connections,
        plan.messages if fanout else None,
        error=str(exc),
    )


def run_plan(plan: Plan) -> list[Row]:
    """All scenarios; fan-out rounds alternate servers so drift hits both alike."""
    rows: list[Row] = []
    if "fanout" in plan.scenarios:
        rounds: dict[str, list[Row]] = {name: [] for name in plan.servers}
        for index in range(plan.rounds):
            for name in plan.servers:
                if any(r.error for r in rounds[name]):
                    continue  # a server that failed once is not retried
                print(f"fanout round {index + 1}/{plan.rounds} against {name} ...", flush=True)
                try:
                    row = _run_fanout(name, plan)
                except BenchError as exc:
                    row = _failed("fanout", name, plan, exc)
                rounds[name].append(row)
                print(f"  {fmt(row.deliveries_per_s, 0)} deliveries/s", flush=True)
        rows.extend(_combine(rounds[name]) for name in plan.servers)
    if "idle" in plan.scenarios:
        for name in plan.servers:
            print(f"idle connections against {name} ...", flush=True)
            try:
                rows.append(_run_idle(name, plan))
            except BenchError as exc:
                rows.append(_failed("idle", name, plan, exc))
    return rows


# --------------------------------------------------------------------------- output


def format_table(rows: Sequence[Row]) -> str:
    """A plain fixed-width table, one row per (scenario, server)."""
    header = (
        "scenario",
        "server",
        "N",
        "M",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "loss",
        "dups",
        "peak RSS MB",
        "KB/conn",
        "srv CPU%",
        "srv us/dlv",
        "lg CPU%",
    )
    lines = []
    for r in rows:
        lines.append(
            (
                r.scenario,
                r.server,
                fmt(r.n),
                fmt(r.m),
                fmt(r.deliveries_per_s, 0),
                fmt(r.p50_ms, 2),
                fmt(r.p99_ms, 2),
                fmt(r.loss),
                fmt(r.dups),
                fmt(r.peak_rss_mb),
                fmt(r.kb_per_conn, 2),
                fmt(r.server_cpu_pct, 0),
                fmt(r.server_us_per_delivery, 2),
                fmt(r.loadgen_cpu_pct, 0),
            )
        )
    out = render_table(header, lines, left=2)
    for r in rows:
        if r.error:
            out.append(f"! {r.scenario}/{r.server}: {r.error}")
        for problem in r.details.get("problems", []):
            out.append(f"! {r.scenario}/{r.server}: {problem}")
    return "\n".join(out)


def ratios(rows: Sequence[Row]) -> dict[str, float]:
    """Gateway vs ceiling, where both were measured.

    ``fanout_cpu_efficiency_gateway_over_ceiling`` is ceiling CPU µs per delivery
    ÷ gateway CPU µs per delivery (above 1: the gateway spends less CPU per
    delivery). It moves less than deliveries/s when other work shares the machine.
    """
    by_key = {(r.scenario, r.server): r for r in rows if r.error is None}
    out: dict[str, float] = {}
    fan_g, fan_c = by_key.get(("fanout", "gateway")), by_key.get(("fanout", "ceiling"))
    if fan_g and fan_c and fan_g.deliveries_per_s and fan_c.deliveries_per_s:
        out["fanout_deliveries_gateway_over_ceiling"] = round(
            fan_g.deliveries_per_s / fan_c.deliveries_per_s, 3
        )
    if fan_g and fan_c and fan_g.server_us_per_delivery and fan_c.server_us_per_delivery:
        out["fanout_cpu_efficiency_gateway_over_ceiling"] = round(
            fan_c.server_us_per_delivery / fan_g.server_us_per_delivery, 3
        )
    idle_g, idle_c = by_key.get(("idle", "gateway")), by_key.get(("idle", "ceiling"))
    if idle_g and idle_c and idle_g.kb_per_conn and idle_c.kb_per_conn:
        out["idle_kb_per_conn_gateway_over_ceiling"] = round(
            idle_g.kb_per_conn / idle_c.kb_per_conn, 3
        )
    return out


# --------------------------------------------------------------------------- main


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(
        description="Fan-out and idle-connection benchmark: gateway vs a websockets ceiling."
    )
    parser.add_argument("--subscribers", type=int, help="fan-out subscribers N (default 1000)")
    parser.add_argument("--messages", type=int, help="publications M (default 200)")
    parser.add_argument("--window", type=int, default=8, help="max unanswered publishes")
    parser.add_argument("--idle-connections", type=int, help="idle connections C (default 5000)")
    parser.add_argument("--only", choices=SERVERS, help="run one server only")
    parser.add_argument(
        "--scenario", choices=("fanout", "idle"), action="append", help="default: both"
    )
    parser.add_argument("--url", help="use this running gateway instead of starting one")
    parser.add_argument(
        "--gateway-arg", action="append", default=[], help="extra argument for the gateway CLI"
    )
    parser.add_argument(
        "--parse",
        choices=("regex", "json"),
        default="regex",
        help="how the load generator reads deliveries (json: to measure its own cost)",
    )
    parser.add_argument(
        "--deadline", type=float, default=60.0, help="max seconds per fan-out run (publish+drain)"
    )
    parser.add_argument(
        "--rounds", type=int, help="fan-out rounds per server, median reported (default 5)"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = parser.parse_args(argv)

    quick = args.quick
    server_core, loadgen_core = pick_cores(args.no_pin)
    plan = Plan(
        subscribers=args.subscribers or (50 if quick else 1000),
        messages=args.messages or (20 if quick else 200),
        window=args.window,
        idle_connections=args.idle_connections or (200 if quick else 5000),
        servers=[args.only] if args.only else list(SERVERS),
        scenarios=args.scenario or ["fanout", "idle"],
        url=args.url,
        server_core=server_core,
        loadgen_core=loadgen_core,
        gateway_args=args.gateway_arg,
        parse=args.parse,
        deadline=args.deadline,
        rounds=args.rounds or (1 if quick else 5),
    )
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plan, print the table, write the JSON; exit 1 if any scenario failed."""
    args, plan = _parse_args(argv)
    session = Session(plan.server_core, plan.loadgen_core)
    rows = run_plan(plan)

    print()
    print(format_table(rows))
    ratio = ratios(rows)
    for row in rows:
        rounds = row.details.get("rounds", [])
        spread = [r["deliveries_per_s"] for r in rounds if r["error"] is None]
        if len(spread) > 1:
            print(
                f"{row.server} fan-out rounds: {min(spread):,.0f} .. {max(spread):,.0f} "
                f"deliveries/s (median shown)"
            )
    for key, value in ratio.items():
        print(f"{key}: {value:.3f}")
    report = {
        "meta": session.meta(plan),
        "rows": [dataclasses.asdict(r) for r in rows],
        "ratios": ratio,
    }
    write_report(args.json, report)
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
