"""A real ``redis-server`` for the tests: spawned on a free 127.0.0.1 port, never the system one.

Persistence is off (``--save "" --appendonly no``) and its files go to a temp
directory, so a killed and restarted server starts empty, as a Redis that lost
its data would. Readiness is a ``PING`` answered within a bounded wait.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from support import timeout

__all__ = ["RedisServer", "free_port", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` executable, or ``None`` when it is not installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))  # up (maybe with a password)
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process that tests may stop and start again on the same port.

    Args:
        binary: Path of ``redis-server``.
        directory: Working directory for the server (no files are written).
        port: Port to listen on (a free one by default).
        options: More ``redis-server`` options, e.g. ``["--requirepass", "pw"]``.
    """

    def __init__(
        self,
        binary: str,
        directory: Path,
        port: int | None = None,
        options: list[str] | None = None,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.options = options or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait: float = 5.0) -> RedisServer:
        """Spawn the server and wait (bounded) until it answers ``PING``."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--loglevel",
                "warning",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout(wait)
        while not _pong(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to its clients) and reap it."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout(5))

    def restart(self) -> None:
        self.stop()
        self.start()
