"""Shared plumbing for the benchmark orchestrators (``fanout.py``, ``agents.py``).

Everything here is about processes, not about what they measure:

* a server under test is started as its own process, pinned to a core, and its
  URL is parsed from its "… listening on ws://HOST:PORT/ws" line (bounded wait);
* a load generator is a child process speaking JSON lines on stdout and taking
  one-word commands on stdin (``_loadgen.py``, ``_agents_loadgen.py``);
* every child dies with the orchestrator (``PR_SET_PDEATHSIG``) and is stopped in
  ``finally`` (SIGINT, then SIGKILL of the whole process tree);
* psutil samples a process tree's CPU time and RSS (a gateway may fork workers);
* every orchestrator's ``main`` sets up alike and writes the same ``meta`` (``Session``).

Nothing here imports ``praison_push``: the benchmarks talk to servers over the wire only.
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
from typing import IO, Any, TypeVar

import psutil

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

LISTENING = re.compile(r"listening on ws://[^\s:/]+:(\d+)")
SERVER_READY_S = 20.0
STOP_GRACE_S = 10.0

_S = TypeVar("_S", bound="Sampler")


class BenchError(Exception):
    """A scenario could not be run (server did not start, load generator failed, ...)."""


# --------------------------------------------------------------------------- processes


class LineReader:
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


def die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it if this orchestrator dies (even by SIGKILL).

    Without it, a harness that kills the benchmark on a timeout would leave a
    server and a load generator running with their ports and sockets.
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


#: Open files wanted for the largest scenarios (20,000 connections, both ends).
WANTED_NOFILE = 65_536


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE (children, the gateway included, inherit it); return it.

    Up to :data:`WANTED_NOFILE` where the hard limit may be raised (root), else to
    the hard limit: the most connections the machine holds follows from it.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < WANTED_NOFILE:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (WANTED_NOFILE, WANTED_NOFILE))
            return WANTED_NOFILE
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def add_run_options(
    parser: argparse.ArgumentParser, default_json: Path, quick_help: str = "smoke test: tiny sizes"
) -> None:
    """The options every bench script takes: ``--quick``, ``--no-pin`` and ``--json``."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--json",
        type=Path,
        default=default_json,
        help=f"where to write results ({default_json.name})",
    )


def pick_cores(no_pin: bool) -> tuple[int | None, int | None]:
    """(server core, load-generator core): the first two usable cores, or no pinning."""
    cores = sorted(os.sched_getaffinity(0))
    if no_pin or len(cores) < 2:
        return None, None
    return cores[0], cores[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(pid: int, core: int | None) -> None:
    if core is not None:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(pid, {core})


def kill_tree(proc: subprocess.Popen[str], grace: float) -> None:
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


def _tree(pid: int | None) -> list[psutil.Process]:
    """``pid`` and its live descendants; none when ``pid`` is None or gone."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(pid: int | None) -> int:
    """RSS in bytes of ``pid`` plus all its descendants (a gateway may fork workers)."""
    total = 0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def tree_cpu(pid: int | None) -> float:
    """User+system CPU seconds of ``pid`` and its live descendants."""
    total = 0.0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def listener_pid(port: int) -> int | None:
    """The pid listening on 127.0.0.1:``port`` (for ``--url``), if this user may see it."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    return None


def url_pid(url: str) -> int | None:
    """The pid serving ``url`` (a ``--url`` given on the command line), when visible."""
    match = re.search(r":(\d+)", url.split("//", 1)[-1])
    return listener_pid(int(match[1])) if match else None


class Sampler:
    """Calls ``sample`` every ``interval`` seconds on a thread for the ``with`` block.

    The thread only runs when ``pid`` (the process tree to sample) is not None.
    """

    def __init__(self, pid: int | None, interval: float, name: str) -> None:
        self.pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        self.begin()
        while not self._stop.wait(self._interval):
            self.sample()

    def begin(self) -> None:
        """Runs on the thread before the first interval."""

    def sample(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class PeakSampler(Sampler):
    """Samples a process tree's RSS on a thread; keeps the peak (0 when ``pid`` is None)."""

    def __init__(self, pid: int | None, interval: float = 0.02) -> None:
        super().__init__(pid, interval, "rss-sampler")
        self.peak = tree_rss(pid)

    def sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self.pid))

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.sample()


class CpuSampler(Sampler):
    """Samples a process tree's CPU time on a thread: CPU % per ``interval``, for the JSON.

    The peak interval shows saturation (~100 %) that an average over the whole
    run, ramp-up and drain included, can hide.
    """

    def __init__(self, pid: int | None, interval: float = 0.5) -> None:
        super().__init__(pid, interval, "cpu-sampler")
        self.samples: list[float] = []
        self._last = (0.0, 0.0)

    def begin(self) -> None:
        self._last = (tree_cpu(self.pid), time.monotonic())

    def sample(self) -> None:
        cpu, now = tree_cpu(self.pid), time.monotonic()
        last_cpu, last_t = self._last
        self.samples.append(round(100 * (cpu - last_cpu) / max(1e-9, now - last_t), 1))
        self._last = (cpu, now)


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


def gateway_command(extra: Sequence[str] = (), python: Sequence[str] = ()) -> list[str]:
    """``python -m praison_push gateway`` on 127.0.0.1, any free port.

    ``python`` goes between the interpreter and ``-m praison_push`` (e.g.
    ``["-m", "cProfile", "-o", PATH]`` to profile the gateway).
    """
    return [
        sys.executable,
        *python,
        "-m",
        "praison_push",
        "gateway",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *extra,
    ]


@contextlib.contextmanager
def spawn_server(name: str, command: Sequence[str], core: int | None) -> Iterator[Server]:
    """Start a fresh server, pinned to ``core``; wait for its ready line; always stop it."""
    with tempfile.TemporaryFile("w+", prefix=f"bench-{name}-") as stderr:
        proc = subprocess.Popen(
            list(command),
            cwd=REPO_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=die_with_parent,
        )
        server = Server(name, "", proc.pid, proc, stderr)
        try:
            pin(proc.pid, core)
            assert proc.stdout is not None
            server.url = await_listening(name, LineReader(proc.stdout, f"{name}-stdout"), server)
            yield server
        finally:
            kill_tree(proc, STOP_GRACE_S)


@contextlib.contextmanager
def serve(name: str, command: Sequence[str], core: int | None, url: str | None) -> Iterator[Server]:
    """The server at ``url`` (``--url``: neither started, pinned nor stopped), if given.

    Otherwise a fresh one from ``command``, as ``spawn_server`` starts and stops it.
    """
    if url is not None:
        yield Server(name, url, url_pid(url))
        return
    with spawn_server(name, command, core) as server:
        yield server


def await_listening(name: str, reader: LineReader, server: Server) -> str:
    """Parse the port from the server's ready line (bounded by ``SERVER_READY_S``)."""
    deadline = time.monotonic() + SERVER_READY_S
    while True:
        try:
            line = reader.next_line(deadline)
        except BenchError as exc:
            raise BenchError(
                f"{name} did not report 'listening on ws://...' ({exc}); "
                f"stderr:\n{server.stderr_tail()}"
            ) from None
        match = LISTENING.search(line)
        if match:
            return f"ws://127.0.0.1:{match[1]}/ws"


class LoadGen:
    """A load-generator child (``script``) and its line protocol (see ``_loadgen.py``)."""

    def __init__(
        self, script: Path, args: Sequence[str], core: int | None, stderr: IO[str]
    ) -> None:
        self._stderr = stderr
        self.proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            preexec_fn=die_with_parent,
        )
        pin(self.proc.pid, core)
        assert self.proc.stdout is not None
        self._reader = LineReader(self.proc.stdout, "loadgen-stdout")

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

    def go(self, server_pid: int | None, timeout: float) -> tuple[dict[str, Any], float, float]:
        """Send ``go`` and wait for the ``result``.

        Returns it with the server tree's CPU seconds and the wall seconds from
        just before ``go`` to the result.
        """
        cpu0, t0 = tree_cpu(server_pid), time.monotonic()
        self.send("go")
        result = self.expect("result", timeout)
        return result, tree_cpu(server_pid) - cpu0, time.monotonic() - t0

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
def loadgen(
    script: Path, args: Sequence[str], core: int | None, close_timeout: float
) -> Iterator[LoadGen]:
    """Run the load generator ``script`` for the duration of the block; it is always reaped."""
    with tempfile.TemporaryFile("w+", prefix="bench-loadgen-") as stderr:
        child = LoadGen(script, args, core, stderr)
        try:
            yield child
        except BaseException:
            child.close(0)
            raise
        child.close(close_timeout)


def cpu_pressure() -> str | None:
    """The kernel's CPU pressure line: other work competing for the cores skews results."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


class Session:
    """One invocation of an orchestrator: set up for its runs, then described in its JSON.

    Creating it raises RLIMIT_NOFILE (children inherit it), pins this process,
    which only samples, to the load generator's core (off the server's), warns
    when nothing is pinned, and notes the start time and the CPU pressure.
    """

    def __init__(self, server_core: int | None, loadgen_core: int | None) -> None:
        #: The open-file limit now in force (children inherit it).
        self.nofile = raise_nofile()
        pin(os.getpid(), loadgen_core)
        if server_core is None:
            print("warning: fewer than 2 usable cores (or --no-pin); processes are not pinned")
        self.server_core = server_core
        self.loadgen_core = loadgen_core
        self.started = time.monotonic()
        self.pressure_before = cpu_pressure()

    def meta(self, plan: Any, **extra: Any) -> dict[str, Any]:
        """The JSON's ``meta``: when, how long, where, then ``extra`` and the ``plan`` dataclass."""
        return {
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": round(time.monotonic() - self.started, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "server_core": self.server_core,
            "loadgen_core": self.loadgen_core,
            "cpu_pressure_before": self.pressure_before,
            "cpu_pressure_after": cpu_pressure(),
            **extra,
            "plan": dataclasses.asdict(plan),
        }


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as indented JSON to ``path`` (creating its folder) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


# --------------------------------------------------------------------------- output


def fmt(value: float | int | str | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def render_table(header: Sequence[str], lines: Sequence[Sequence[str]], left: int) -> list[str]:
    """A plain fixed-width table: the first ``left`` columns left-aligned, the rest right."""
    table = [tuple(header), *(tuple(line) for line in lines)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for index, line in enumerate(table):
        cells = [
            cell.ljust(width) if col < left else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return out
