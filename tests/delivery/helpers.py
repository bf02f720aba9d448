"""Helpers of the acknowledged-delivery acceptance tests: gateway processes, wire taps, storms."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import timeout

from praison_push.client import AsyncPushClient, Backoff, ChannelMessage, WebSocketTransport
from praison_push.config import GatewayConfig

#: Reconnect quickly: the storm cuts connections dozens of times.
STORM_BACKOFF = Backoff(initial=0.01, maximum=0.1)

LAUNCHER = Path(__file__).with_name("gateway_process.py")


class WireTap(WebSocketTransport):
    """A WebSocket transport that keeps every ``channel_message`` it received, redeliveries too."""

    def __init__(self, *args: Any, seen: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen = seen

    async def receive(self) -> dict[str, Any]:
        frame = await super().receive()
        if frame.get("type") == "channel_message":
            self._seen.append(frame)
        return frame


def tapped(seen: list[dict[str, Any]]) -> Any:
    """A transport factory whose transports record received messages into ``seen``."""

    def factory(url: str, auth_token: str | None, *, client_id: str) -> WireTap:
        return WireTap(url, auth_token, client_id=client_id, seen=seen)

    return factory


class GatewayProcess:
    """A gateway in a process of its own, on a fixed port, that a test may ``kill -9``.

    Args:
        config: Its configuration (``port`` must be fixed, so a restart reuses it).
        command: The command to run instead of the launcher (the CLI, say); it
            must print the WebSocket URL as the last word of its first line.
    """

    def __init__(
        self,
        log: Path,
        config: GatewayConfig | None = None,
        command: list[str] | None = None,
    ) -> None:
        if command is None:
            assert config is not None
            command = [sys.executable, str(LAUNCHER), config.model_dump_json()]
        self.command = command
        self.log = log
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> GatewayProcess:
        """Start and wait (bounded) until it listens; its stderr goes to :attr:`log`."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=log, text=True, env=env
            )
        line = _readline(self.process, self.log, timeout(30))
        assert "ws://" in line, line
        self.url = line.split()[-1]
        return self

    def kill(self) -> None:
        """``kill -9``: no shutdown, nothing flushed."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout(10))
        if process.stdout is not None:
            process.stdout.close()


def _readline(process: subprocess.Popen[str], log: Path, seconds: float) -> str:
    """The child's first stdout line, or fail once ``seconds`` passed or it exited."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(seconds):
            process.kill()
            raise AssertionError(f"{process.args!r} printed nothing within {seconds}s")
    line = process.stdout.readline()
    if not line:
        process.wait(timeout(10))
        raise AssertionError(f"the gateway exited ({process.poll()}): {log.read_text()[-2000:]}")
    return line


@dataclass
class Subscriber:
    """A storm subscriber: its client, what its handler saw, what came over its wire."""

    client: AsyncPushClient
    handled: list[int] = field(default_factory=list)
    wire: list[dict[str, Any]] = field(default_factory=list)
    connects: int = 0

    def handle(self, message: ChannelMessage) -> None:
        self.handled.append(message.data["seq"])

    def on_connected(self, _greeting: Any) -> None:
        self.connects += 1

    @property
    def redeliveries(self) -> int:
        return sum(1 for frame in self.wire if frame.get("_redelivered"))


async def subscriber(url: str, client_id: str, channel: str) -> Subscriber:
    """A connected client with a stable id, subscribed to ``channel`` through ``url``."""
    wire: list[dict[str, Any]] = []
    client = AsyncPushClient(
        url,
        client_id=client_id,
        transport_factory=tapped(wire),
        backoff=STORM_BACKOFF,
        request_timeout=timeout(10),
    )
    sub = Subscriber(client, wire=wire)
    client.on("connected")(sub.on_connected)
    await sub.client.connect()
    await sub.client.subscribe(channel, sub.handle)
    return sub


async def stop_all(clients: list[AsyncPushClient]) -> None:
    await asyncio.gather(*(client.disconnect() for client in clients), return_exceptions=True)
