"""Two gateways on one spawned ``redis-server``, as one process tree for the benchmark.

``python bench/_cluster.py --ports A,B [-- GATEWAY ARGS...]`` starts a
``redis-server`` on a free port (persistence off), then one
``praison-push gateway --redis-url ...`` per port, and prints the first
gateway's "listening on ws://127.0.0.1:A/ws" once every gateway listens, so the
orchestrator treats the whole tree as one server (its CPU and RSS are the
tree's, pinned to the server core). It stops them all on SIGINT/SIGTERM.
Nothing here imports ``praison_push``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from _common import free_port

READY_S = 30.0


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wait_line(proc: subprocess.Popen[str], needle: str, seconds: float) -> str:
    """The first stdout line of ``proc`` containing ``needle`` (bounded by ``seconds``)."""
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if needle in line:
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    if not found:
        raise SystemExit(f"{proc.args!r} printed no {needle!r} within {seconds:.0f} s")
    return found[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", required=True, help="comma-separated gateway ports")
    parser.add_argument("gateway_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    extra = [a for a in args.gateway_args if a != "--"]
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    children: list[subprocess.Popen[str]] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        try:
            redis_port = free_port()
            redis = subprocess.Popen(
                [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", directory, "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            children.append(redis)
            deadline = time.monotonic() + READY_S
            while not _pong(redis_port):
                if time.monotonic() > deadline or redis.poll() is not None:
                    raise SystemExit("redis-server did not answer PING")
                time.sleep(0.01)
            url = f"redis://127.0.0.1:{redis_port}/0"
            for port in args.ports.split(","):
                command = [sys.executable, "-m", "praison_push", "gateway", "--host", "127.0.0.1",
                           "--port", port, "--redis-url", url, *extra]  # fmt: skip
                children.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
            for gateway in children[1:]:
                _wait_line(gateway, "listening on", READY_S)
            first = args.ports.split(",")[0]
            print(f"cluster listening on ws://127.0.0.1:{first}/ws", flush=True)
            stop.wait()
        finally:
            for child in reversed(children):
                with contextlib.suppress(OSError):
                    child.send_signal(signal.SIGINT)
            for child in reversed(children):
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
