"""The scenarios of bench/fanout.py: one run of one scenario against one server.

Each function starts a fresh server (or adopts ``--url``), runs a load generator
against it, and returns a :class:`Row`. Servers, load generators and this
process talk over the wire only; nothing here imports ``praison_push``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from _common import (
    BENCH_DIR,
    BenchError,
    LoadGen,
    PeakSampler,
    Server,
    gateway_command,
    loadgen,
    serve,
    tree_cpu,
    tree_rss,
)

FANOUT_LOADGEN = BENCH_DIR / "_loadgen.py"
JOIN_LOADGEN = BENCH_DIR / "_join_loadgen.py"
CEILING = BENCH_DIR / "_ceiling.py"
CLUSTER = BENCH_DIR / "_cluster.py"

#: What asyncio logs for each write to a transport whose connection is lost.
WRITE_AFTER_LOSS = "socket.send() raised exception"


@dataclasses.dataclass
class Plan:
    """What to run: sizes, servers and cores, resolved from the command line."""

    subscribers: int
    messages: int
    window: int
    burst: tuple[int, int]
    wide: tuple[int, int]
    rate_subscribers: int
    rate: float
    rate_seconds: float
    single_messages: int
    idle_sizes: list[int]
    join_sizes: list[int]
    settle: float
    servers: list[str]
    scenarios: list[str]
    url: str | None
    server_core: int | None
    loadgen_core: int | None
    gateway_args: list[str]
    parse: str
    deadline: float
    rounds: int
    max_connections: int
    #: More arguments for the load generator (``bench/delivery.py``: ``--ack``).
    loadgen_args: list[str] = dataclasses.field(default_factory=list)
    #: The ports of the ``cluster`` server's gateways (``bench/_cluster.py``): the
    #: publisher uses the first, subscribers are spread over all of them.
    cluster_ports: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class FanoutSpec:
    """One fan-out shape: N subscribers, M publications, windowed or paced."""

    scenario: str
    subscribers: int
    messages: int
    window: int
    rate: float = 0.0


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


def server_command(name: str, plan: Plan) -> list[str]:
    if name == "gateway":
        return gateway_command(plan.gateway_args)
    if name == "cluster":
        ports = ",".join(str(port) for port in plan.cluster_ports)
        return [sys.executable, str(CLUSTER), "--ports", ports, "--", *plan.gateway_args]
    return [sys.executable, str(CEILING), "--mode", name, "--host", "127.0.0.1", "--port", "0"]


def start_server(name: str, plan: Plan) -> contextlib.AbstractContextManager[Server]:
    """A fresh server (or ``--url`` for the gateway), pinned to the server core; always stopped."""
    url = plan.url if name == "gateway" else None
    return serve(name, server_command(name, plan), plan.server_core, url)


@contextlib.contextmanager
def _loadgen(
    script: Any, args: Sequence[str], plan: Plan, close_timeout: float
) -> Iterator[LoadGen]:
    with loadgen(script, args, plan.loadgen_core, close_timeout) as child:
        yield child


# --------------------------------------------------------------------------- fan-out


def run_fanout(name: str, plan: Plan, spec: FanoutSpec) -> Row:
    """N subscribers on ``bench``; M publications, windowed or paced; deliveries counted."""
    row = Row(spec.scenario, name, spec.subscribers, spec.messages)
    stall, quiet = 10.0, 2.0
    args = [
        "fanout",
        *("--subscribers", str(spec.subscribers), "--messages", str(spec.messages)),
        *("--window", str(spec.window), "--rate", str(spec.rate), "--parse", plan.parse),
        *("--stall", str(stall), "--quiet", str(quiet), "--deadline", str(plan.deadline)),
        *plan.loadgen_args,
    ]
    if name == "cluster":
        for port in plan.cluster_ports:
            args += ["--sub-url", f"ws://127.0.0.1:{port}/ws"]
    with (
        start_server(name, plan) as server,
        _loadgen(FANOUT_LOADGEN, [*args, "--url", server.url], plan, 30) as child,
        PeakSampler(server.pid) as sampler,
    ):
        ready = child.expect("ready", 30 + spec.subscribers / 50)
        result, cpu_s, wall = child.go(server.pid, plan.deadline + stall + quiet + 15)
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
    if result.get("published") != spec.messages:
        problems.append(f"published {result.get('published')}/{spec.messages}")
    if result.get("bad_frames"):
        problems.append(f"bad_frames={result['bad_frames']}")
    if problems:
        row.details["problems"] = problems
    return row


def combine(rounds: Sequence[Row]) -> Row:
    """One row from several rounds: the median round by deliveries/s.

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


# --------------------------------------------------------------------------- idle


def run_idle(name: str, plan: Plan, connections: int) -> Row:
    """C connections that only get the greeting: RSS growth ÷ C per idle connection."""
    row = Row("idle", name, connections, None)
    args = ["idle", "--connections", str(connections)]
    with (
        start_server(name, plan) as server,
        _loadgen(FANOUT_LOADGEN, [*args, "--url", server.url], plan, 60) as child,
    ):
        child.expect("warm", 30)
        before = tree_rss(server.pid)
        child.send("go")
        ready = child.expect("ready", 30 + connections / 50)
        after = tree_rss(server.pid)
        child.send("close")
    accepted = int(ready["accepted"])
    row.details = {**ready, "rss_before": before, "rss_after": after}
    if server.pid and accepted:
        row.kb_per_conn = round((after - before) / accepted / 1024, 2)
        row.peak_rss_mb = round(after / 2**20, 1)
    if accepted != connections:
        row.details["problems"] = [f"accepted {accepted}/{connections}"]
    return row


# --------------------------------------------------------------------------- join, then drop


def _health(url: str) -> dict[str, Any]:
    """The gateway's ``/health`` (over HTTP, as any monitor reads it)."""
    http = url.replace("ws://", "http://", 1).rsplit("/ws", 1)[0] + "/health"
    with urllib.request.urlopen(http, timeout=5) as response:
        body: dict[str, Any] = json.loads(response.read())
    return body


def _wait_health(url: str, connections: int, timeout: float) -> float:
    """Seconds until ``/health`` reports at most ``connections``; BenchError past ``timeout``."""
    started = time.monotonic()
    while True:
        if _health(url)["connections"] <= connections:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise BenchError(f"/health still reports connections after {timeout:.0f} s")
        time.sleep(0.05)


def _log_count(server: Server, needle: str) -> int | None:
    """How often ``needle`` is in the server's stderr (None when we did not start it)."""
    if server.stderr is None:
        return None
    server.stderr.flush()
    server.stderr.seek(0)
    return sum(line.count(needle) for line in server.stderr)


def run_join(name: str, plan: Plan, clients: int) -> Row:
    """A crowd subscribes to one channel; frames received, time, memory; then all drop at once.

    Reports join time, the frames the crowd received while joining (and until
    ``--settle`` after), RSS per subscribed idle connection, how long the
    gateway takes to forget the dropped crowd, its CPU in the 2 s after, and
    how many "socket.send() raised exception" lines its log got.
    """
    row = Row("join", name, clients, None)
    args = ["--clients", str(clients), "--settle", str(plan.settle)]
    with (
        start_server(name, plan) as server,
        _loadgen(JOIN_LOADGEN, [*args, "--url", server.url], plan, 30) as child,
    ):
        child.expect("warm", 30)
        before = tree_rss(server.pid)
        others = _health(server.url)["connections"] - 1  # all but the warm-up connection
        child.send("go")
        joined = child.expect("joined", 60 + clients / 20)
        settled = child.expect("settled", plan.settle + 30)
        after = tree_rss(server.pid)
        child.send("drop")
        child.expect("dropped", 30)
        forget_s = _wait_health(server.url, max(0, others), 60)
        cpu0, t0 = tree_cpu(server.pid), time.monotonic()
        time.sleep(2.0)
        cpu_after = 100 * (tree_cpu(server.pid) - cpu0) / (time.monotonic() - t0)
        send_errors = _log_count(server, WRITE_AFTER_LOSS)
    subscribed = int(joined["subscribed"])
    frames = int(settled["frames"])
    row.details = {
        "join_s": joined["join_s"],
        "subscribed": subscribed,
        "failures": joined["failures"],
        "first_failure": joined["first_failure"],
        "frames_joined": joined["frames"],
        "frames": frames,
        "frames_per_client": round(frames / max(1, subscribed), 2),
        "by_type": settled["by_type"],
        "disconnects": settled["disconnects"],
        "rss_before": before,
        "rss_after": after,
        "forget_s": round(forget_s, 3),
        "cpu_after_drop_pct": round(cpu_after, 1),
        "send_error_lines": send_errors,
    }
    if server.pid and subscribed:
        row.kb_per_conn = round((after - before) / subscribed / 1024, 2)
        row.peak_rss_mb = round(after / 2**20, 1)
    problems = []
    if subscribed != clients:
        problems.append(f"subscribed {subscribed}/{clients}: {joined['first_failure']}")
    if send_errors:
        problems.append(f"{send_errors} '{WRITE_AFTER_LOSS}' lines in the gateway's log")
    if problems:
        row.details["problems"] = problems
    return row
