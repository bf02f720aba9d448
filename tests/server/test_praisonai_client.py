"""PraisonAI's real push client (``praisonai.push``, pinned) against a live gateway.

The ``praisonai`` package pulls in litellm, mcp, textual and more, so it is not a
dev dependency: it is installed once, without its dependencies, into a cache
directory (``PRAISON_PUSH_NPM_CACHE``, default ``~/.cache/praison-push``, like the
agent-UI clients' npm packages); what ``praisonai.push`` needs at run time
(``praisonaiagents``, ``aiohttp``, ``websockets``) is in the dev extra. The
client runs unmodified in a subprocess (``tests/fixtures/praisonai/drive_praisonai.py``)
that reports each step as a JSON line and waits for the test before disconnecting.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from support import http_client, timeout, wait_until

from praison_push.client import AsyncPushClient
from praison_push.config import AuthConfig, GatewayConfig, PushConfig
from praison_push.server import GatewayThread

from .helpers import Serve

pytestmark = pytest.mark.e2e

PRAISONAI = "praisonai==4.7.19"
DRIVER = Path(__file__).parent.parent / "fixtures" / "praisonai" / "drive_praisonai.py"
TOKEN = "praisonai-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="session")
def praisonai_dir() -> Path:
    """A directory holding the pinned ``praisonai`` (no dependencies), installed once."""
    root = Path(os.environ.get("PRAISON_PUSH_NPM_CACHE", Path.home() / ".cache" / "praison-push"))
    target = root / PRAISONAI.replace("==", "-")
    if not (target / "praisonai" / "push" / "transports.py").exists():
        partial = root / f"{target.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
                *("--disable-pip-version-check", "--target", str(partial), PRAISONAI),
            ],
            check=False,
            timeout=timeout(300),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            pytest.fail(f"pip could not install {PRAISONAI}:\n{done.stderr[-2000:]}")
        try:
            partial.rename(target)  # whole or not at all: an interrupted install is not used
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)  # another session installed it first
    return target


class Driver:
    """The driver subprocess: its JSON step lines, and a line on stdin to let it finish."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def step(self, name: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout(30))
        if not line:
            await self.fail(f"the driver ended before step {name!r}")
        report: dict[str, Any] = json.loads(line)
        assert report["step"] == name, report
        return report

    async def finish(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        await self.process.stdin.drain()
        await asyncio.wait_for(self.process.wait(), timeout(30))
        if self.process.returncode != 0:
            await self.fail(f"the driver exited with {self.process.returncode}")

    async def fail(self, why: str) -> None:
        assert self.process.stderr is not None
        stderr = await asyncio.wait_for(self.process.stderr.read(), timeout(10))
        pytest.fail(f"{why}:\n{stderr.decode(errors='replace')}")


@asynccontextmanager
async def drive(
    praisonai_dir: Path, mode: str, gateway: GatewayThread, channel: str, count: int
) -> AsyncIterator[Driver]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(DRIVER),
        mode,
        gateway.url,
        TOKEN,
        channel,
        str(count),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(praisonai_dir)},
    )
    try:
        yield Driver(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
def frames_in(gateway_with_auth: GatewayThread) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """``(client_id, frame)`` for every frame the poll routes hand to the hub."""
    hub = gateway_with_auth.gateway.hub  # type: ignore[union-attr]
    seen: list[tuple[str, dict[str, Any]]] = []
    receive: Callable[..., Any] = hub.receive

    async def recording(connection: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((connection.client_id, json.loads(text)))
        return await receive(connection, text, *args, **kwargs)

    hub.receive = recording
    yield seen
    del hub.receive


@pytest.fixture
def gateway_with_auth(serve: Serve) -> GatewayThread:
    return serve(GatewayConfig(push=PushConfig(enabled=True), auth=AuthConfig(tokens=[TOKEN])))


async def _presence(gateway: GatewayThread, channel: str) -> dict[str, str]:
    async with http_client(timeout=timeout(10)) as http:
        response = await http.get(
            f"{gateway.http_url}/api/push/poll/presence", params={"channel": channel}, headers=AUTH
        )
    assert response.status_code == 200, response.text
    return {entry["client_id"]: entry["status"] for entry in response.json()["presence"]}


def _subscriptions(gateway: GatewayThread, client_id: str) -> set[str]:
    hub = gateway.gateway.hub  # type: ignore[union-attr]
    (connection,) = [c for c in hub.connections.values() if c.client_id == client_id]
    return set(connection.subscriptions)


def _acked(frames: list[tuple[str, dict[str, Any]]], client_id: str) -> list[str]:
    return [f["event_id"] for who, f in frames if who == client_id and f["type"] == "message_ack"]


async def test_praisonai_polling_transport_register_subscribe_receive_ack_unsubscribe(
    praisonai_dir: Path,
    gateway_with_auth: GatewayThread,
    frames_in: list[tuple[str, dict[str, Any]]],
) -> None:
    gateway = gateway_with_auth
    async with drive(praisonai_dir, "transport", gateway, "alerts", 3) as driver:
        subscribed = await driver.step("subscribed")
        client_id = subscribed["client_id"]
        assert subscribed["first"]["type"] == "connected"
        assert subscribed["first"]["client_id"] == client_id
        assert _subscriptions(gateway, client_id) == {"alerts"}
        assert (await _presence(gateway, "alerts"))[client_id] == "busy"  # its heartbeat
        async with AsyncPushClient(gateway.url, auth_token=TOKEN) as publisher:
            receipts = [await publisher.publish("alerts", {"n": n}) for n in range(3)]
        received = (await driver.step("received"))["messages"]
        assert [m["data"] for m in received] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert [m["event_id"] for m in received] == [r.event_id for r in receipts]
        assert {m["channel"] for m in received} == {"alerts"}
        assert _acked(frames_in, client_id) == [r.event_id for r in receipts]
        left = await driver.step("unsubscribed")
        assert left["connected"] is True
        # PraisonAI's polling contract has no publish: its client refuses it itself.
        assert "does not support message type 'channel.publish'" in left["publish_refused"]
        assert _subscriptions(gateway, client_id) == set()
        beats = [f for who, f in frames_in if who == client_id and "heartbeat" in f["type"]]
        assert [f.get("status") for f in beats] == ["busy", "online"]
        await driver.finish()


async def test_praisonai_push_client_falls_back_to_polling_and_receives(
    praisonai_dir: Path,
    gateway_with_auth: GatewayThread,
    frames_in: list[tuple[str, dict[str, Any]]],
) -> None:
    gateway = gateway_with_auth
    async with drive(praisonai_dir, "client", gateway, "news", 2) as driver:
        connected = await driver.step("connected")
        # praisonai 4.7.19 calls websockets.connect(url, extra_headers=...), which the
        # websockets >= 14 API refuses (TypeError) before dialling: it falls back to polling.
        assert connected["transport"] == "PollingTransport" and connected["using_polling"]
        assert connected["is_connected"] and not connected["supports_publish"]
        assert any(
            "WebSocket connect failed" in w and "extra_headers" in w for w in connected["warnings"]
        ), connected["warnings"]
        client_id = (await driver.step("subscribed"))["client_id"]
        assert _subscriptions(gateway, client_id) == {"news"}
        async with AsyncPushClient(gateway.url, auth_token=TOKEN) as publisher:
            receipts = [await publisher.publish("news", {"headline": n}) for n in ("a", "b")]
            received = (await driver.step("received"))["messages"]
            assert [m["data"] for m in received] == [{"headline": "a"}, {"headline": "b"}]
            assert [m["event_id"] for m in received] == [r.event_id for r in receipts]
            assert {m["source"] for m in received} == {publisher.client_id}
        # Its receive loop acknowledged both (in the background) and set_status went up.
        assert (await _presence(gateway, "news"))[client_id] == "away"
        expected = sorted(r.event_id for r in receipts)
        await wait_until(lambda: sorted(_acked(frames_in, client_id)) == expected, 10)
        await driver.finish()
        closed = await driver.step("closed")
        assert closed["errors"] == []
        assert _subscriptions(gateway, client_id) == set()  # it unsubscribed before leaving
