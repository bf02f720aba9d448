"""Agent-run streaming benchmark: one ``demo-long`` run watched by many connections.

Scenario (defaults): ``--watchers`` 100 picows connections subscribe to the
``executions`` feed filtered on ``agent_id: demo-long`` (PROTOCOL.md §4), then a
requester connection starts ``demo-long`` with input ``"50000@5000"``: 50,000
tokens at 5,000 tokens/s, 10 s of streaming. Every token reaches each watcher
(through the feed) and the requester (through ``executions:<id>``, which the
gateway subscribes it to).

Why the watchers use the filtered feed: they cannot know the execution id
before the run starts, and subscribing to ``executions:<id>`` afterwards with a
``since`` replay depends on the channel's history still holding the start of
the run (1,000 frames by default: at 5,000 tokens/s, 0.2 s). The feed, joined
before the run, misses nothing and needs no replay.

Built like ``fanout.py`` (and on the same ``_common.py``): the gateway
(``python -m praison_push gateway --port 0``, its URL parsed from its ready
line) is pinned to one core, the load generator (``_agents_loadgen.py``) to the
other, this orchestrator samples the gateway's CPU and RSS with psutil, every
wait is bounded and every child is stopped in ``finally``. It talks over the
wire only and never imports ``praison_push``.

Reports, over the watchers: delivered tokens/s (token frames received by all
watchers ÷ time from the gateway's stamp on token 0 to the last delivery),
expected vs received (loss; duplicates by watcher and ``index``), p50/p99/max
latency (receipt ``time.time()`` − the frame's ``timestamp``, which the gateway
stamps when it publishes the token; same host, same clock), the agent's
achieved rate (tokens ÷ span of the gateway's stamps on the first and last
token), and the gateway's CPU % and peak RSS over the run.

Run ``python bench/agents.py --help``; results go to ``bench/results/agents.json``.
``--profile PATH`` runs the gateway under cProfile and writes its stats to PATH
(``python -m pstats PATH``); profiling slows the gateway, so its numbers are not
comparable with an unprofiled run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    RESULTS_DIR,
    BenchError,
    CpuSampler,
    PeakSampler,
    Session,
    add_run_options,
    fmt,
    gateway_command,
    loadgen,
    pick_cores,
    render_table,
    serve,
    write_report,
)

LOADGEN = BENCH_DIR / "_agents_loadgen.py"
DEFAULT_JSON = RESULTS_DIR / "agents.json"
AGENT = "demo-long"
#: Seconds of no progress (no token, no run end) after which a run counts as stalled.
QUIET_S = 5.0


@dataclasses.dataclass
class Plan:
    """What to run, resolved from the command line."""

    watchers: int
    tokens: int
    rate: float
    url: str | None
    server_core: int | None
    loadgen_core: int | None
    gateway_args: list[str]
    deadline: float
    profile: str | None


@dataclasses.dataclass
class Row:
    """The results table's line (and the JSON's ``rows[0]``)."""

    watchers: int
    tokens: int
    rate: float
    expected: int | None = None
    received: int | None = None
    loss: int | None = None
    dups: int | None = None
    delivered_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    agent_rate: float | None = None
    server_cpu_pct: float | None = None
    server_cpu_peak_pct: float | None = None
    server_us_per_delivery: float | None = None
    peak_rss_mb: float | None = None
    loadgen_cpu_pct: float | None = None
    error: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def _gateway_command(plan: Plan) -> list[str]:
    """The gateway's command line, under cProfile with ``--profile``."""
    python = ["-m", "cProfile", "-o", plan.profile] if plan.profile else []
    return gateway_command(plan.gateway_args, python)


def _loadgen_args(plan: Plan, url: str) -> list[str]:
    return [
        "--url",
        url,
        "--watchers",
        str(plan.watchers),
        "--tokens",
        str(plan.tokens),
        "--rate",
        repr(plan.rate),
        "--agent",
        AGENT,
        "--quiet",
        str(QUIET_S),
        "--deadline",
        str(plan.deadline),
    ]


def run_plan(plan: Plan) -> Row:
    """Start the gateway and the watchers, run the agent once, collect the numbers."""
    row = Row(plan.watchers, plan.tokens, plan.rate)
    with (
        serve("gateway", _gateway_command(plan), plan.server_core, plan.url) as server,
        loadgen(LOADGEN, _loadgen_args(plan, server.url), plan.loadgen_core, 30) as child,
    ):
        ready = child.expect("ready", 30 + plan.watchers / 50)
        with PeakSampler(server.pid) as rss, CpuSampler(server.pid) as cpu:
            result, cpu_s, wall = child.go(server.pid, plan.deadline + QUIET_S + 30)
    if server.pid is not None:
        row.server_cpu_pct = round(100 * cpu_s / wall, 1)
        row.server_cpu_peak_pct = max(cpu.samples, default=None)
        row.peak_rss_mb = round(rss.peak / 2**20, 1)
        deliveries = result["received"] + result["requester"]["received"]
        if deliveries:
            row.server_us_per_delivery = round(1e6 * cpu_s / deliveries, 2)
    row.expected = result["expected"]
    row.received = result["received"]
    row.loss = result["loss"]
    row.dups = result["duplicates"]
    row.delivered_per_s = result["tokens_per_s"]
    row.p50_ms = result["p50_ms"]
    row.p99_ms = result["p99_ms"]
    row.max_ms = result["max_ms"]
    row.agent_rate = result["agent_rate"]
    row.loadgen_cpu_pct = result["loadgen_cpu_pct"]
    row.details = {
        "connect_s": ready.get("connect_s"),
        "server_cpu_s": round(cpu_s, 3) if server.pid is not None else None,
        "server_wall_s": round(wall, 3),
        "server_cpu_samples_pct": cpu.samples,
        **result,
    }
    problems = _problems(plan, result)
    if problems:
        row.details["problems"] = problems
    return row


def _problems(plan: Plan, result: dict[str, Any]) -> list[str]:
    """Anything that makes the run not what was asked for, one line each."""
    problems: list[str] = []
    if result.get("status") != "completed":
        seen = result.get("highest_index_seen", -1) + 1
        problems.append(
            f"run not seen to complete (status {result.get('status')!r},"
            f" error {result.get('final_error')}); tokens seen: {seen:,}/{plan.tokens:,}"
        )
    elif result.get("emitted") != plan.tokens:
        problems.append(f"the run emitted {result.get('emitted')}/{plan.tokens} tokens")
    for flag in ("stalled", "deadline_hit", "cancelled"):
        if result.get(flag):
            problems.append(flag)
    for who, part in (("watchers", result), ("requester", result["requester"])):
        for key in ("loss", "duplicates", "out_of_range", "bad_frames", "slow_path_frames"):
            if part.get(key):
                problems.append(f"{who}: {key}={part[key]}")
        for key in ("errors", "close_codes"):
            if part.get(key):
                problems.append(f"{who}: {key}={part[key]}")
        slow = part.get("close_codes", {}).get("1013")
        if slow:
            problems.append(
                f"{who}: {slow} closed with 1013 (slow consumer: the gateway's send queue"
                f" overflowed) after {part['received'] / part['receivers']:,.0f} tokens each"
                " on average"
            )
        if len(part.get("execution_ids", [])) > 1:
            problems.append(f"{who}: tokens of several runs {part['execution_ids']}")
    return problems


# --------------------------------------------------------------------------- output


def format_table(row: Row) -> str:
    """The results table (one line) and any problems below it."""
    header = (
        "watchers",
        "tokens",
        "rate/s",
        "expected",
        "received",
        "loss",
        "dups",
        "delivered/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "agent rate/s",
        "gw CPU%",
        "gw peak%",
        "gw us/dlv",
        "gw RSS MB",
        "lg CPU%",
    )
    line = (
        fmt(row.watchers),
        fmt(row.tokens),
        fmt(row.rate, 0),
        fmt(row.expected),
        fmt(row.received),
        fmt(row.loss),
        fmt(row.dups),
        fmt(row.delivered_per_s, 0),
        fmt(row.p50_ms, 2),
        fmt(row.p99_ms, 2),
        fmt(row.max_ms, 2),
        fmt(row.agent_rate, 0),
        fmt(row.server_cpu_pct, 0),
        fmt(row.server_cpu_peak_pct, 0),
        fmt(row.server_us_per_delivery, 2),
        fmt(row.peak_rss_mb),
        fmt(row.loadgen_cpu_pct, 0),
    )
    out = render_table(header, [line], left=0)
    if row.error:
        out.append(f"! {row.error}")
    out.extend(f"! {problem}" for problem in row.details.get("problems", []))
    requester = row.details.get("requester")
    if requester:
        out.append(
            f"requester (executions:<id>): received {fmt(requester['received'])}"
            f"/{fmt(requester['expected'])}, p50 {fmt(requester['p50_ms'], 2)} ms,"
            f" p99 {fmt(requester['p99_ms'], 2)} ms, max {fmt(requester['max_ms'], 2)} ms"
        )
    if row.details.get("due_p99_ms") is not None:
        out.append(
            f"latency from each token's scheduled time (start + index/rate): "
            f"p50 {fmt(row.details['due_p50_ms'], 2)} ms, p99 {fmt(row.details['due_p99_ms'], 2)}"
            f" ms, max {fmt(row.details['due_max_ms'], 2)} ms"
        )
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(
        description="Agent-run streaming benchmark: one demo-long run, many watchers."
    )
    parser.add_argument("--watchers", type=int, help="watcher connections (default 100)")
    parser.add_argument("--tokens", type=int, help="tokens the run streams (default 50000)")
    parser.add_argument("--rate", type=float, help="tokens per second (default 5000)")
    parser.add_argument("--url", help="use this running gateway instead of starting one")
    parser.add_argument(
        "--gateway-arg", action="append", default=[], help="extra argument for the gateway CLI"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        help="max seconds from the run's start to its end (default 3 x tokens/rate + 15)",
    )
    parser.add_argument("--profile", type=Path, help="run the gateway under cProfile, stats here")
    add_run_options(parser, DEFAULT_JSON, "smoke test: 10 watchers, 500 tokens at 1000/s")
    args = parser.parse_args(argv)

    quick = args.quick
    tokens = args.tokens if args.tokens is not None else (500 if quick else 50_000)
    rate = args.rate if args.rate is not None else (1_000.0 if quick else 5_000.0)
    if tokens < 1 or rate <= 0:
        parser.error("--tokens must be >= 1 and --rate > 0")
    server_core, loadgen_core = pick_cores(args.no_pin)
    plan = Plan(
        watchers=args.watchers or (10 if quick else 100),
        tokens=tokens,
        rate=rate,
        url=args.url,
        server_core=server_core,
        loadgen_core=loadgen_core,
        gateway_args=args.gateway_arg,
        deadline=args.deadline or round(3 * tokens / rate + 15, 1),
        profile=str(args.profile.resolve()) if args.profile else None,
    )
    if plan.profile and plan.url:
        parser.error("--profile profiles a gateway this script starts; it cannot go with --url")
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run once, print the table, write the JSON; exit 1 if the run could not be made."""
    args, plan = _parse_args(argv)
    session = Session(plan.server_core, plan.loadgen_core)
    print(
        f"{AGENT}: {plan.tokens:,} tokens at {plan.rate:,.0f}/s to {plan.watchers:,} watchers ...",
        flush=True,
    )
    try:
        row = run_plan(plan)
    except BenchError as exc:
        row = Row(plan.watchers, plan.tokens, plan.rate, error=str(exc))
    except KeyboardInterrupt:  # the children were stopped on the way out
        print("interrupted", file=sys.stderr)
        return 130

    print()
    print(format_table(row))
    report = {
        "meta": session.meta(
            plan, subscription="executions feed, filters {agent_id} (joined before the run)"
        ),
        "rows": [dataclasses.asdict(row)],
    }
    write_report(args.json, report)
    if plan.profile:
        print(f"gateway profile: python -m pstats {plan.profile}")
    return 1 if row.error else 0


if __name__ == "__main__":
    sys.exit(main())
