"""The command line as a person runs it: real processes, their exit codes and their stderr.

Each failure a user could meet is one line on stderr and a non-zero exit (0
for a closed pipe); the gateway reads ``PRAISON_PUSH_TOKEN``, says whether
auth is on, and stops cleanly on SIGTERM and on an early Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import timeout

pytestmark = pytest.mark.e2e

#: Variables that would change what the commands do: the tests decide them.
_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("PRAISON_PUSH_")}


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "praison_push", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=timeout(60),
        env={**_CLEAN, **(env or {})},
        check=False,
    )


def one_error_line(result: Any) -> str:
    """The single stderr line of a failed command (fails the test otherwise)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("praison-push: error: "), lines[0]
    assert "Traceback" not in result.stderr
    return str(lines[0])


@dataclass
class GatewayProcess:
    process: subprocess.Popen[str]
    url: str
    banner: list[str]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[str, str]:
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=timeout(20))
        return out, err


@contextlib.contextmanager
def gateway_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[GatewayProcess]:
    process = subprocess.Popen(
        [sys.executable, "-m", "praison_push", "gateway", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**_CLEAN, **(env or {})},
        cwd=cwd,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("praison-push gateway listening on ws://127.0.0.1:"), first + (
            process.stderr.read() if process.poll() is not None and process.stderr else ""
        )
        banner = [first.strip(), process.stdout.readline().strip()]
        yield GatewayProcess(process, first.rsplit(" ", 1)[1].strip(), banner)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=timeout(10))


@pytest.fixture(scope="module")
def open_gateway() -> Iterator[GatewayProcess]:
    with gateway_process() as running:
        yield running


# --- failures: one line, an exit code ------------------------------------------------


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "praison_push", "gateway", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=timeout(60),
            env=_CLEAN,
            check=False,
        )
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"praison-push: error: cannot listen on 127.0.0.1:{port}: the address is already in use"
    )


def test_an_invalid_channel_name_is_one_line_and_exit_2(open_gateway: GatewayProcess) -> None:
    result = cli("publish", "bad name!", "{}", "--url", open_gateway.url)
    assert result.returncode == 2
    assert "invalid channel 'bad name!'" in one_error_line(result)


def test_a_port_that_is_not_a_number_is_one_line() -> None:
    result = cli("presence", "--url", "ws://127.0.0.1:abc/ws")
    assert result.returncode == 1
    assert "the port is not a number" in one_error_line(result)


def test_a_wrong_path_names_the_path_not_the_token(open_gateway: GatewayProcess) -> None:
    wrong = open_gateway.url.replace("/ws", "/wrong")
    result = cli("presence", "--url", wrong, "--token", "right-token")
    assert result.returncode == 1
    line = one_error_line(result)
    assert "HTTP 403, no WebSocket endpoint at this path" in line
    assert "refused the token" not in line and "client_id" not in line


def test_a_message_over_the_limit_says_message_too_large(open_gateway: GatewayProcess) -> None:
    data = '{"blob": "' + "x" * 100_000 + '"}'
    result = cli("publish", "big", "-", "--url", open_gateway.url, stdin=data)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "message too large" in line and "64 KiB" in line and "1009" not in line


def test_piping_into_head_ends_quietly(open_gateway: GatewayProcess) -> None:
    command = (
        f"{sys.executable} -m praison_push execute demo-long 4000@4000 --url {open_gateway.url}"
        ' | head -c 20; echo " exit=${PIPESTATUS[0]}"'
    )
    result = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        env=_CLEAN,
        check=False,
    )
    assert result.stdout.endswith(" exit=0\n"), result.stdout + result.stderr
    assert result.stdout.startswith("t0 t1 t2")
    assert result.stderr == ""


# --- the gateway: token, auth banner, signals ---------------------------------------------


def test_the_gateway_reads_the_token_from_the_environment_and_says_auth_is_on() -> None:
    with gateway_process(env={"PRAISON_PUSH_TOKEN": "env-token"}) as running:
        assert running.banner[1].startswith("auth: on (1 token)")
        refused = cli("presence", "--url", running.url)
        assert refused.returncode == 1
        assert "the gateway refused the token" in one_error_line(refused)
        allowed = cli("presence", "--url", running.url, env={"PRAISON_PUSH_TOKEN": "env-token"})
        assert allowed.returncode == 0, allowed.stderr
        out, err = running.stop()
    assert "env-token" not in out + err


def test_an_open_gateway_says_so(open_gateway: GatewayProcess) -> None:
    assert open_gateway.banner[1].startswith("auth: off, any client can connect")


def test_sigterm_stops_cleanly_with_exit_0() -> None:
    with gateway_process() as running:
        out, err = running.stop(signal.SIGTERM)
        assert running.process.returncode == 0, err
    assert out.strip().endswith("praison-push gateway stopped") and err == ""


def test_ctrl_c_right_after_start_is_quiet() -> None:
    with gateway_process() as running:
        out, err = running.stop(signal.SIGINT)
        assert running.process.returncode == 0, err
    assert out.strip().endswith("praison-push gateway stopped")
    assert err == "", err  # no RuntimeWarning, no CancelledError


def test_agents_from_the_users_module(tmp_path: Path) -> None:
    (tmp_path / "myagents.py").write_text(
        textwrap.dedent(
            """
            def shout(text):
                return text.upper()

            agents = {"shout": shout, "whisper": lambda text: text.lower()}
            """
        )
    )
    with gateway_process("--agents", "myagents:agents", cwd=tmp_path) as running:
        assert "agents: shout, whisper" in running.process.stdout.readline()  # type: ignore[union-attr]
        result = cli("execute", "shout", "hello", "--url", running.url)
        assert (result.returncode, result.stdout) == (0, "HELLO\n"), result.stderr
    bad = cli("gateway", "--port", "0", "--agents", "nowhere:agents")
    assert bad.returncode == 2 and "cannot import 'nowhere'" in one_error_line(bad)


# --- conveniences ---------------------------------------------------------------------


def test_version_and_help_for_every_option() -> None:
    from praison_push.cli import build_parser

    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("praison-push ")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[union-attr]
    for name, command in commands.items():
        assert command.description, f"{name} has no description"
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_publish_from_stdin_history_since_and_subscribe_since(
    open_gateway: GatewayProcess,
) -> None:
    import json

    url = open_gateway.url
    for n in (1, 2, 3):
        assert cli("publish", "log", "-", "--url", url, stdin=json.dumps({"n": n})).returncode == 0
    history = cli("history", "log", "--since", "1", "--url", url)
    assert [json.loads(line)["data"] for line in history.stdout.splitlines()] == [
        {"n": 2},
        {"n": 3},
    ]
    replay = cli("subscribe", "log", "--since", "0", "--count", "3", "--url", url)
    assert [json.loads(line)["data"]["n"] for line in replay.stdout.splitlines()] == [1, 2, 3]


def test_presence_leaves_out_its_own_connection(open_gateway: GatewayProcess) -> None:
    result = cli("presence", "--url", open_gateway.url)
    assert (result.returncode, result.stdout) == (0, "")


def test_log_level_shows_the_gateways_logs() -> None:
    with gateway_process("--log-level", "debug") as running:
        assert cli("presence", "--url", running.url).returncode == 0
        _, err = running.stop(signal.SIGINT)
    assert "praison_push" in err and ("DEBUG" in err or "INFO" in err), err


@pytest.mark.redis
def test_two_gateways_share_a_channel_over_redis_url(redis_server: Any) -> None:
    import json
    import uuid

    channel = f"cli-{uuid.uuid4().hex[:8]}"
    with (
        gateway_process("--redis-url", redis_server.url) as first,
        gateway_process("--redis-url", redis_server.url) as second,
    ):
        published = cli("publish", channel, '{"via": "first"}', "--url", first.url)
        assert published.returncode == 0, published.stderr
        history = cli("history", channel, "--url", second.url)
        assert [json.loads(line)["data"] for line in history.stdout.splitlines()] == [
            {"via": "first"}
        ]
