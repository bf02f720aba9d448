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
import ctypes
import dataclasses
import json
import math
import os
import platform
import queue
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LOADGEN = BENCH_DIR / "_loadgen.py"
CEILING = BENCH_DIR / "_ceiling.py"
DEFAULT_JSON = BENCH_DIR / "results" / "fanout.json"
SERVERS = ("ceiling", "gateway")

_LISTENING = re.compile(r"listening on ws://[^\s:/]+:(\d+)")
_SERVER_READY_S = 20.0
_STOP_GRACE_S = 10.0


class BenchError(Exception):
    """A scenario could not be run (server did not start, load generator failed, ...)."""


# --------------------------------------------------------------------------- processes


class _LineReader:
    """Drains a child's text pipe on a thread so reads can be bounded by a timeout.

    Draining also matters on its own: a server that logs to stdout after its
    ready line must never block on a full pipe.
    """

    def __init__(self, stream: IO[str], name: str) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.tail: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                self.tail = [*self.tail[-19:], line.rstrip("\n")]
                self._lines.put(line)
        self._lines.put(None)

    def next_line(self, deadline: float) -> str:
        """The next line; raises BenchError at EOF or when ``deadline`` (monotonic) passes."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError("timed out waiting for output")
        try:
            line = self._lines.get(timeout=remaining)
        except queue.Empty:
            raise BenchError("timed out waiting for output") from None
        if line is None:
            raise BenchError("process exited")
        return line


_PR_SET_PDEATHSIG = 1
try:
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: children are only reaped by ``finally``
    _prctl = None


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it if this orchestrator dies (even by SIGKILL).

    Without it, a harness that kills the benchmark on a timeout would leave a
    server and a load generator running with their ports and sockets.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _raise_nofile() -> None:
    """Raise RLIMIT_NOFILE to the hard limit; children (the gateway) inherit it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _pin(pid: int, core: int | None) -> None:
    if core is not None:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, {core})


def _kill_tree(proc: subprocess.Popen[str], grace: float) -> None:
    """SIGINT, wait up to ``grace`` seconds, then SIGKILL the process and its descendants."""
    if proc.poll() is not None:
        return
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=grace)
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()


def _tree_rss(pid: int | None) -> int:
    """RSS in bytes of ``pid`` plus all its descendants (a gateway may fork workers)."""
    total = 0
    if pid is None:
        return 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def _tree_cpu(pid: int | None) -> float:
    """User+system CPU seconds of ``pid`` and its live descendants."""
    total = 0.0
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _listener_pid(port: int) -> int | None:
    """The pid listening on 127.0.0.1:``port`` (for ``--url``), if this user may see it."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None


class _PeakSampler:
    """Samples a process tree's RSS on a thread; keeps the peak (0 when ``pid`` is None)."""

    def __init__(self, pid: int | None, interval: float = 0.02) -> None:
        self.pid = pid
        self.peak = _tree_rss(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, _tree_rss(self.pid))

    def __enter__(self) -> _PeakSampler:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.peak = max(self.peak, _tree_rss(self.pid))


@dataclasses.dataclass
class Server:
    """A server under test: started by us (``proc``) or given by ``--url``."""

    name: str
    url: str
    pid: int | None
    proc: subprocess.Popen[str] | None = None
    stderr: IO[str] | None = None

    def stderr_tail(self, lines: int = 15) -> str:
        if self.stderr is None:
            return ""
        self.stderr.flush()
        self.stderr.seek(0)
        return "\n".join(self.stderr.read().splitlines()[-lines:])


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


def _server_command(name: str, plan: Plan) -> list[str]:
    if name == "ceiling":
        return [sys.executable, str(CEILING), "--host", "127.0.0.1", "--port", "0"]
    return [
        sys.executable,
        "-m",
        "praison_push",
        "gateway",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *plan.gateway_args,
    ]


@contextlib.contextmanager
def _server(name: str, plan: Plan) -> Iterator[Server]:
    """Start a fresh server (or adopt ``--url``), pinned to the server core; always stop it."""
    if name == "gateway" and plan.url is not None:
        match = re.search(r":(\d+)", plan.url.split("//", 1)[-1])
        pid = _listener_pid(int(match[1])) if match else None
        yield Server(name, plan.url, pid)
        return
    with tempfile.TemporaryFile("w+", prefix=f"bench-{name}-") as stderr:
        proc = subprocess.Popen(
            _server_command(name, plan),
            cwd=REPO_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=_die_with_parent,
        )
        server = Server(name, "", proc.pid, proc, stderr)
        try:
            _pin(proc.pid, plan.server_core)
            assert proc.stdout is not None
            server.url = _await_listening(name, _LineReader(proc.stdout, f"{name}-stdout"), server)
            yield server
        finally:
            _kill_tree(proc, _STOP_GRACE_S)


def _await_listening(name: str, reader: _LineReader, server: Server) -> str:
    """Parse the port from the server's ready line (bounded by ``_SERVER_READY_S``)."""
    deadline = time.monotonic() + _SERVER_READY_S
    while True:
        try:
            line = reader.next_line(deadline)
        except BenchError as exc:
            raise BenchError(
                f"{name} did not report 'listening on ws://...' ({exc}); "
                f"stderr:\n{server.stderr_tail()}"
            ) from None
        match = _LISTENING.search(line)
        if match:
            return f"ws://127.0.0.1:{match[1]}/ws"


class _LoadGen:
    """The load-generator child and its line protocol (see ``_loadgen.py``)."""

    def __init__(self, args: Sequence[str], core: int | None, stderr: IO[str]) -> None:
        self._stderr = stderr
        self.proc = subprocess.Popen(
            [sys.executable, str(LOADGEN), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            preexec_fn=_die_with_parent,
        )
        _pin(self.proc.pid, core)
        assert self.proc.stdout is not None
        self._reader = _LineReader(self.proc.stdout, "loadgen-stdout")

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """Wait for the control line ``event``; the load generator's error becomes BenchError."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._reader.next_line(deadline)
            except BenchError as exc:
                raise BenchError(f"load generator: {exc} before {event!r}{self._tail()}") from None
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "error":
                raise BenchError(f"load generator: {msg.get('message')}{self._tail()}")
            if msg.get("event") == event:
                return dict(msg)

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def _tail(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        text = "\n".join(self._stderr.read().splitlines()[-10:])
        return f"\nloadgen stderr:\n{text}" if text else ""

    def close(self, timeout: float) -> None:
        """Let it finish (it closes its connections), then make sure it is gone.

        Closing stdin first makes a load generator still waiting for a command exit.
        """
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def _loadgen(args: Sequence[str], core: int | None, close_timeout: float) -> Iterator[_LoadGen]:
    """Run the load generator for the duration of the block; it is always reaped."""
    with tempfile.TemporaryFile("w+", prefix="bench-loadgen-") as stderr:
        loadgen = _LoadGen(args, core, stderr)
        try:
            yield loadgen
        except BaseException:
            loadgen.close(0)
            raise
        loadgen.close(close_timeout)


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
    ]
    with (
        _server(name, plan) as server,
        _loadgen([*loadgen_args, "--url", server.url], plan.loadgen_core, 20) as loadgen,
        _PeakSampler(server.pid) as sampler,
    ):
        ready = loadgen.expect("ready", 30 + plan.subscribers / 50)
        cpu0, t0 = _tree_cpu(server.pid), time.monotonic()
        loadgen.send("go")
        result = loadgen.expect("result", plan.deadline + stall + quiet + 15)
        if server.pid is not None:
            cpu_s, wall = _tree_cpu(server.pid) - cpu0, time.monotonic() - t0
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
        before = _tree_rss(server.pid)
        loadgen.send("go")
        ready = loadgen.expect("ready", 30 + plan.idle_connections / 50)
        after = _tree_rss(server.pid)
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
                print(f"  {_fmt(row.deliveries_per_s, 0)} deliveries/s", flush=True)
        rows.extend(_combine(rounds[name]) for name in plan.servers)
    if "idle" in plan.scenarios:
        for name in plan.servers:
            print(f"idle connections against {name} ...", flush=True)
            try:
                rows.append(_run_idle(name, plan))
            except BenchError as exc:
                rows.append(_failed("idle", name, plan, exc))
    return rows


def _cpu_pressure() -> str | None:
    """The kernel's CPU pressure line: other work competing for the cores skews results."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


# --------------------------------------------------------------------------- output


def _fmt(value: float | int | str | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


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
    lines = [header]
    for r in rows:
        lines.append(
            (
                r.scenario,
                r.server,
                _fmt(r.n),
                _fmt(r.m),
                _fmt(r.deliveries_per_s, 0),
                _fmt(r.p50_ms, 2),
                _fmt(r.p99_ms, 2),
                _fmt(r.loss),
                _fmt(r.dups),
                _fmt(r.peak_rss_mb),
                _fmt(r.kb_per_conn, 2),
                _fmt(r.server_cpu_pct, 0),
                _fmt(r.server_us_per_delivery, 2),
                _fmt(r.loadgen_cpu_pct, 0),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        cells = [
            cell.ljust(width) if col < 2 else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
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
    cores = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cores) >= 2
    plan = Plan(
        subscribers=args.subscribers or (50 if quick else 1000),
        messages=args.messages or (20 if quick else 200),
        window=args.window,
        idle_connections=args.idle_connections or (200 if quick else 5000),
        servers=[args.only] if args.only else list(SERVERS),
        scenarios=args.scenario or ["fanout", "idle"],
        url=args.url,
        server_core=cores[0] if pin else None,
        loadgen_core=cores[1] if pin else None,
        gateway_args=args.gateway_arg,
        parse=args.parse,
        deadline=args.deadline,
        rounds=args.rounds or (1 if quick else 5),
    )
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plan, print the table, write the JSON; exit 1 if any scenario failed."""
    args, plan = _parse_args(argv)
    _raise_nofile()
    # This process only samples; keep it off the server's core.
    _pin(os.getpid(), plan.loadgen_core)
    if plan.server_core is None:
        print("warning: fewer than 2 usable cores (or --no-pin); processes are not pinned")

    started = time.monotonic()
    pressure_before = _cpu_pressure()
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
        "meta": {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": round(time.monotonic() - started, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "server_core": plan.server_core,
            "loadgen_core": plan.loadgen_core,
            "cpu_pressure_before": pressure_before,
            "cpu_pressure_after": _cpu_pressure(),
            "plan": dataclasses.asdict(plan),
        },
        "rows": [dataclasses.asdict(r) for r in rows],
        "ratios": ratio,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
