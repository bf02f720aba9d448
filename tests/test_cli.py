"""The command line, against real gateways (in-process and as a subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
from conftest import timeout

from praison_push.cli import main
from praison_push.config import AuthConfig, GatewayConfig
from praison_push.server import GatewayThread
from praison_push.sync import PushClient


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "praison_push", *args],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_publish_prints_the_receipt(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    with PushClient(gateway.url) as listener:
        listener.subscribe("alerts")
        assert main(["publish", "alerts", '{"level": "high"}', "--url", gateway.url]) == 0
        message = listener.wait_for("alerts", timeout=timeout(5))
    assert message.data == {"level": "high"}
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["channel"] == "alerts" and receipt["delivered"] == 1 and receipt["event_id"]


def test_presence_lists_clients_as_json_lines(
    gateway: GatewayThread, capsys: pytest.CaptureFixture[str]
) -> None:
    with PushClient(gateway.url, client_id="watcher") as watcher:
        watcher.set_status("busy", {"role": "ops"})
        assert main(["presence", "--url", gateway.url]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    watcher_entry = next(e for e in entries if e["client_id"] == "watcher")
    assert watcher_entry["status"] == "busy" and watcher_entry["metadata"] == {"role": "ops"}


def test_url_and_token_come_from_the_environment(
    gateway_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secured = gateway_factory(GatewayConfig(auth=AuthConfig(tokens=["s3cret"])))
    monkeypatch.setenv("PRAISON_PUSH_URL", secured.url)
    monkeypatch.setenv("PRAISON_PUSH_TOKEN", "s3cret")
    assert main(["presence"]) == 0
    monkeypatch.setenv("PRAISON_PUSH_TOKEN", "wrong")
    assert main(["presence"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("praison-push: error: the gateway refused the token")
    assert len(err.splitlines()) == 1 and "wrong" not in err


def test_unreachable_gateway_is_one_line_and_exit_1() -> None:
    result = run_cli("publish", "alerts", "{}", "--url", "ws://127.0.0.1:9/ws")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("praison-push: error: cannot reach the gateway")


def test_bad_json_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "alerts", "{nope"]) == 2
    assert "DATA is not valid JSON" in capsys.readouterr().err


def test_subscribe_prints_messages_until_count(gateway: GatewayThread) -> None:
    joined = threading.Event()
    with PushClient(gateway.url, client_id="publisher") as publisher:

        @publisher.on("presence_join")
        def on_join(frame: dict[str, Any]) -> None:
            if frame["channel"] == "news":
                joined.set()

        publisher.subscribe("news")
        process = subprocess.Popen(
            [sys.executable, "-m", "praison_push", "subscribe", "news", "--count", "2",
             "--url", gateway.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert joined.wait(timeout(30)), "the CLI subscriber never joined"
            publisher.publish("news", {"n": 1})
            publisher.publish("news", {"n": 2})
            out, err = process.communicate(timeout=timeout(30))
        finally:
            process.kill()
    assert process.returncode == 0, err
    assert [json.loads(line)["data"] for line in out.splitlines()] == [{"n": 1}, {"n": 2}]


def test_subscribe_timeout_ends_quietly(gateway: GatewayThread) -> None:
    result = run_cli("subscribe", "quiet", "--timeout", "0.2", "--url", gateway.url)
    assert result.returncode == 0 and result.stdout == ""


def test_gateway_command_serves_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "praison_push", "gateway", "--port", "0", "--token", "t0k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("praison-push gateway listening on ws://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        with PushClient(url, auth_token="t0k") as client:
            assert client.publish("ping", {}).delivered == 0
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=timeout(20))
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "t0k" not in err


def test_gateway_warns_when_open_on_a_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from praison_push import cli

    calls: list[Any] = []
    monkeypatch.setattr(
        "praison_push.server.run_gateway", lambda config, on_ready: calls.append(config)
    )
    args = cli.build_parser().parse_args(["gateway", "--host", "0.0.0.0", "--port", "0"])
    assert cli._cmd_gateway(args) == 0
    assert calls and calls[0].host == "0.0.0.0"
    assert cli._is_loopback("localhost") and cli._is_loopback("::1")
    assert not cli._is_loopback("example.org") and not cli._is_loopback("10.0.0.1")


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "alice received on alerts" in out and "presence: bob is busy" in out
