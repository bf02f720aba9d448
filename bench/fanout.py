"""Fan-out, latency, idle memory and big-channel benchmark: the gateway against two ceilings.

Why it is built this way:

* The server under test, the load generator and this orchestrator are separate
  processes. The server is pinned to one core and the load generator
  (``_loadgen.py`` / ``_join_loadgen.py``, picows clients) to the other, so
  neither steals the other's CPU and the numbers describe the server.
* Every server is measured next to two "ceilings" (``_ceiling.py``) on the same
  core, in the same run: ``prebuilt``, the true ceiling (the frame serialized
  once, the same bytes written to each subscriber's transport), and
  ``broadcast`` (``websockets.broadcast``, which frames again per connection).
  The ratios gateway ÷ ceiling are comparable across machines; raw rates are not.
* The benchmark talks to servers over the wire only (PROTOCOL.md §2) and never
  imports ``praison_push``, so it keeps working whatever the package's internals.
* Every wait is bounded and every child is stopped in ``finally`` (SIGINT,
  then SIGKILL of the whole process tree).

Scenarios (``--scenario``, repeatable; all by default), each fan-out-like one
run ``--rounds`` times per server, alternating servers, median round reported:

``fanout``  N subscribers (1,000), M publications (200), ``--window`` (8) unanswered.
``burst``   100 subscribers × 5,000 publications.
``wide``    10,000 subscribers × 20 publications (or the most the machine holds).
``rate``    100 subscribers, 200 publications/s paced (20,000 deliveries/s offered)
            for 10 s: p50/p99 at a moderate, fixed load.
``single``  1 subscriber, one publication at a time (``window`` 1): the latency
            of one message through an idle server (TCP_NODELAY and batching).
``idle``    C connections that only get the greeting (5,000 and 20,000, capped by
            the open-file limit): RSS growth ÷ C per idle connection.
``join``    (gateway only) 500, 1,000 and 5,000 clients subscribe to one channel:
            join time, frames the crowd receives while joining (they must grow
            linearly with N), RSS per subscribed connection; then the crowd drops
            at once (TCP resets) and the gateway must forget it with no
            "socket.send() raised exception" in its log and no CPU left spinning.

Run ``python bench/fanout.py --help``; results go to ``bench/results/fanout.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from _common import (
    RESULTS_DIR,
    BenchError,
    Session,
    add_run_options,
    fmt,
    pick_cores,
    raise_nofile,
    render_table,
    write_report,
)
from _scenarios import FanoutSpec, Plan, Row, combine, run_fanout, run_idle, run_join

DEFAULT_JSON = RESULTS_DIR / "fanout.json"
SERVERS = ("prebuilt", "broadcast", "gateway")
FANOUT_SCENARIOS = ("fanout", "burst", "wide", "rate", "single")
SCENARIOS = (*FANOUT_SCENARIOS, "idle", "join")
#: Descriptors the orchestrator leaves for itself and the servers' other needs.
_FD_MARGIN = 200


def fanout_specs(plan: Plan) -> list[FanoutSpec]:
    """The fan-out-like scenarios asked for, with their sizes."""
    rate_messages = max(1, round(plan.rate * plan.rate_seconds))
    specs = {
        "fanout": FanoutSpec("fanout", plan.subscribers, plan.messages, plan.window),
        "burst": FanoutSpec("burst", *plan.burst, plan.window),
        "wide": FanoutSpec("wide", min(plan.wide[0], plan.max_connections), plan.wide[1], 8),
        "rate": FanoutSpec("rate", plan.rate_subscribers, rate_messages, 0, plan.rate),
        "single": FanoutSpec("single", 1, plan.single_messages, 1),
    }
    return [specs[name] for name in FANOUT_SCENARIOS if name in plan.scenarios]


def _failed(scenario: str, name: str, n: int, m: int | None, exc: BenchError) -> Row:
    return Row(scenario, name, n, m, error=str(exc))


def run_plan(plan: Plan) -> list[Row]:
    """Every scenario asked for; fan-out rounds alternate servers so drift hits all alike."""
    rows: list[Row] = []
    for spec in fanout_specs(plan):
        rounds: dict[str, list[Row]] = {name: [] for name in plan.servers}
        for index in range(plan.rounds):
            for name in plan.servers:
                if any(r.error for r in rounds[name]):
                    continue  # a server that failed once is not retried
                what = f"{spec.scenario} N={spec.subscribers} M={spec.messages}"
                print(f"{what} round {index + 1}/{plan.rounds} against {name} ...", flush=True)
                try:
                    row = run_fanout(name, plan, spec)
                except BenchError as exc:
                    row = _failed(spec.scenario, name, spec.subscribers, spec.messages, exc)
                rounds[name].append(row)
                print(f"  {fmt(row.deliveries_per_s, 0)} deliveries/s", flush=True)
        rows.extend(combine(rounds[name]) for name in plan.servers)
    if "idle" in plan.scenarios:
        for size in plan.idle_sizes:
            for name in plan.servers:
                if name == "broadcast":
                    continue  # the same server as prebuilt while idle
                print(f"idle {size:,} connections against {name} ...", flush=True)
                try:
                    rows.append(run_idle(name, plan, size))
                except BenchError as exc:
                    rows.append(_failed("idle", name, size, None, exc))
    if "join" in plan.scenarios and "gateway" in plan.servers:
        for size in plan.join_sizes:
            print(f"join: {size:,} clients subscribe to one channel, then drop ...", flush=True)
            try:
                rows.append(run_join("gateway", plan, size))
            except BenchError as exc:
                rows.append(_failed("join", "gateway", size, None, exc))
    return rows


# --------------------------------------------------------------------------- output


def format_table(rows: Sequence[Row]) -> str:
    """Fixed-width tables: fan-out and idle rows, then the join rows."""
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
    lines = [
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
        for r in rows
        if r.scenario != "join"
    ]
    out = render_table(header, lines, left=2) if lines else []
    joins = [r for r in rows if r.scenario == "join" and r.error is None]
    if joins:
        join_header = (
            "join N",
            "join s",
            "frames",
            "frames/client",
            "KB/conn",
            "forget s",
            "CPU% after",
            "send errors",
        )
        join_lines = [
            (
                fmt(r.n),
                fmt(r.details["join_s"], 2),
                fmt(r.details["frames"]),
                fmt(r.details["frames_per_client"], 2),
                fmt(r.kb_per_conn, 2),
                fmt(r.details["forget_s"], 2),
                fmt(r.details["cpu_after_drop_pct"], 1),
                fmt(r.details["send_error_lines"]),
            )
            for r in joins
        ]
        out += ["", *render_table(join_header, join_lines, left=0)]
    for r in rows:
        if r.error:
            out.append(f"! {r.scenario}/{r.server} N={r.n}: {r.error}")
        for problem in r.details.get("problems", []):
            out.append(f"! {r.scenario}/{r.server} N={r.n}: {problem}")
    return "\n".join(out)


def ratios(rows: Sequence[Row]) -> dict[str, float]:
    """The gateway against each ceiling, where both were measured.

    ``<scenario>_gateway_over_<ceiling>``: deliveries/s ratio (above 1: faster).
    ``<scenario>_cpu_efficiency_gateway_over_<ceiling>``: the ceiling's CPU µs per
    delivery ÷ the gateway's (above 1: the gateway spends less CPU per delivery;
    it moves less than deliveries/s when other work shares the machine).
    ``<scenario>_p99_gateway_over_<ceiling>`` for the latency scenarios.
    """
    by_key = {(r.scenario, r.server, r.n): r for r in rows if r.error is None}
    out: dict[str, float] = {}
    for (scenario, server, n), gateway in by_key.items():
        if server != "gateway" or scenario not in FANOUT_SCENARIOS:
            continue
        for ceiling in ("prebuilt", "broadcast"):
            other = by_key.get((scenario, ceiling, n))
            if other is None:
                continue
            key = f"{scenario}_{{}}gateway_over_{ceiling}"
            if gateway.deliveries_per_s and other.deliveries_per_s:
                out[key.format("")] = round(gateway.deliveries_per_s / other.deliveries_per_s, 3)
            if gateway.server_us_per_delivery and other.server_us_per_delivery:
                value = other.server_us_per_delivery / gateway.server_us_per_delivery
                out[key.format("cpu_efficiency_")] = round(value, 3)
            if scenario in ("rate", "single") and gateway.p99_ms and other.p99_ms:
                out[key.format("p99_")] = round(gateway.p99_ms / other.p99_ms, 3)
    for (scenario, server, n), row in by_key.items():
        if scenario in ("idle", "join") and server == "gateway" and row.kb_per_conn:
            out[f"{scenario}_{n}_gateway_kb_per_conn"] = row.kb_per_conn
    return out


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _parse_args(argv: Sequence[str] | None, nofile: int) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(
        description="Fan-out, latency, idle and big-channel benchmark: gateway vs two ceilings."
    )
    parser.add_argument("--subscribers", type=int, help="fanout: subscribers N (default 1000)")
    parser.add_argument("--messages", type=int, help="fanout: publications M (default 200)")
    parser.add_argument("--window", type=int, default=8, help="max unanswered publishes")
    parser.add_argument("--wide", type=int, help="wide: subscribers (default 10000)")
    parser.add_argument("--rate", type=float, default=200.0, help="rate: publications/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="rate: duration")
    parser.add_argument("--idle", type=_sizes, help="idle: connection counts (5000,20000)")
    parser.add_argument("--join", type=_sizes, help="join: crowd sizes (500,1000,5000)")
    parser.add_argument("--settle", type=float, default=2.0, help="join: counting after joined")
    parser.add_argument("--only", choices=SERVERS, action="append", help="servers (default all)")
    parser.add_argument(
        "--scenario", choices=SCENARIOS, action="append", help="scenarios (default all)"
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
        "--rounds", type=int, help="rounds per fan-out scenario and server, median (default 3)"
    )
    add_run_options(parser, DEFAULT_JSON, "tiny sizes for a smoke test")
    args = parser.parse_args(argv)

    quick = args.quick
    server_core, loadgen_core = pick_cores(args.no_pin)
    most = max(100, nofile - _FD_MARGIN)
    plan = Plan(
        subscribers=args.subscribers or (50 if quick else 1000),
        messages=args.messages or (20 if quick else 200),
        window=args.window,
        burst=(10, 200) if quick else (100, 5000),
        wide=(args.wide or (200 if quick else 10_000), 5 if quick else 20),
        rate_subscribers=10 if quick else 100,
        rate=args.rate if not quick else 100.0,
        rate_seconds=0.5 if quick else args.rate_seconds,
        single_messages=50 if quick else 2000,
        idle_sizes=[min(size, most) for size in args.idle or ([200] if quick else [5000, 20000])],
        join_sizes=args.join or ([50, 100] if quick else [500, 1000, 5000]),
        settle=1.5 if quick else args.settle,
        servers=args.only or list(SERVERS),
        scenarios=args.scenario or list(SCENARIOS),
        url=args.url,
        server_core=server_core,
        loadgen_core=loadgen_core,
        gateway_args=args.gateway_arg,
        parse=args.parse,
        deadline=args.deadline,
        rounds=args.rounds or (1 if quick else 3),
        max_connections=most,
    )
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plan, print the tables, write the JSON; exit 1 if any scenario failed."""
    args, plan = _parse_args(argv, raise_nofile())  # the sizes depend on the file limit
    session = Session(plan.server_core, plan.loadgen_core)
    rows = run_plan(plan)

    print()
    print(format_table(rows))
    for row in rows:
        spread = [r["deliveries_per_s"] for r in row.details.get("rounds", []) if not r["error"]]
        if len(spread) > 1:
            print(
                f"{row.scenario}/{row.server} rounds: {min(spread):,.0f} .. {max(spread):,.0f} "
                f"deliveries/s (median shown)"
            )
    ratio = ratios(rows)
    for key, value in ratio.items():
        print(f"{key}: {value:.3f}")
    report = {
        "meta": session.meta(plan, open_files=session.nofile),
        "rows": [dataclasses.asdict(r) for r in rows],
        "ratios": ratio,
    }
    write_report(args.json, report)
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
