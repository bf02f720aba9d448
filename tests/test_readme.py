"""README.md as pasted: its shell and Python snippets run top to bottom, as a reader runs them.

Every ``bash``/``python`` block of the README carries a hidden marker saying how
it is run (``<!-- readme-test: KIND -->``), and this test runs each kind:

* ``install``: the first quick-start command, in a fresh copy of the project
  (a new virtualenv, the runtime dependencies only, the demo);
* ``tests``: the second one is the command ``.ci/run`` runs (checked, not run:
  it is this very test run);
* ``terminal-1`` / ``terminal-2``: the shell session, the gateway started as
  the README says in one shell, the commands in another;
* ``script``: a Python snippet as a file, run by this interpreter;
* ``async``: the async client snippet, whose top-level ``await`` is what a
  notebook or ``python -m asyncio`` accepts, run inside ``asyncio.run``.

The one change made to what the README says: port 8765 becomes a free one
(``PRAISON_PUSH_URL`` names it, which the commands and the gateway read), so
the test never collides with a gateway already running on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import timeout

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BIN = Path(sys.executable).parent
KINDS = {"install", "tests", "terminal-1", "terminal-2", "script", "async"}
WEATHER = "The weather in Paris is currently 18°C and partly cloudy."

_FENCE = re.compile(
    r"(?:<!-- readme-test: (?P<kind>[\w-]+) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.S
)


@dataclass(frozen=True)
class Snippet:
    kind: str
    lang: str
    code: str


def snippets() -> list[Snippet]:
    return [
        Snippet(m.group("kind") or "", m.group("lang"), m.group("code"))
        for m in _FENCE.finditer(README.read_text(encoding="utf-8"))
    ]


def of_kind(kind: str) -> list[Snippet]:
    found = [snippet for snippet in snippets() if snippet.kind == kind]
    assert found, f"the README has no {kind!r} snippet"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRAISON_PUSH_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `praison-push` is this project's
    env.pop("VIRTUAL_ENV", None)
    env.update(extra)
    return env


def test_every_shell_and_python_snippet_is_run_by_this_test() -> None:
    for snippet in snippets():
        if snippet.lang in ("bash", "python", "sh", "shell", "py"):
            assert snippet.kind in KINDS, f"a README snippet without a test marker:\n{snippet.code}"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    (tests,) = of_kind("tests")
    command = tests.code.strip()
    assert "\n" not in command
    assert command in (REPO / ".ci" / "run").read_text().splitlines()
    assert '.[dev]"' in command and "pytest" in command


def test_the_first_command_installs_the_runtime_only_and_runs_the_demo(tmp_path: Path) -> None:
    (install,) = of_kind("install")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(
        REPO / "praison_push",
        project / "praison_push",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = _env()
    env["PATH"] = os.pathsep.join(  # no venv of ours on PATH: the fresh one is used
        p for p in env["PATH"].split(os.pathsep) if Path(p) != BIN
    )
    result = subprocess.run(
        ["bash", "-e", "-c", install.code],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout(300),
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "alice received on alerts" in result.stdout and "demo finished" in result.stdout
    installed = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=True,
    ).stdout.lower()
    for heavy in ("pytest", "anywidget", "ipython", "jupyterlab", "playwright", "mypy"):
        assert f"\n{heavy}==" not in "\n" + installed, f"{heavy} came with the runtime install"


def test_the_shell_session_and_the_python_snippets_as_pasted(tmp_path: Path) -> None:
    port = _free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    env = _env(PRAISON_PUSH_URL=url)
    (terminal_1,) = of_kind("terminal-1")
    (terminal_2,) = of_kind("terminal-2")
    gateway = subprocess.Popen(
        ["bash", "-e", "-c", terminal_1.code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,  # Ctrl-C goes to the whole shell, as in a terminal
    )
    try:
        assert gateway.stdout is not None
        listening = gateway.stdout.readline()
        assert listening.strip() == f"praison-push gateway listening on {url}", listening
        assert gateway.stdout.readline().startswith("auth: on (1 token)")

        shell = subprocess.run(
            ["bash", "-e", "-c", terminal_2.code],
            capture_output=True,
            text=True,
            timeout=timeout(120),
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert shell.returncode == 0, shell.stdout + shell.stderr
        out = shell.stdout
        assert out.count('"channel":"alerts"') >= 2  # two receipts
        assert '"data":{"level":"high"}' in out and '"data":{"level":"low"}' in out
        assert out.rstrip().endswith(WEATHER)
        assert "⚙ get_weather" in shell.stderr

        for number, snippet in enumerate(of_kind("script")):
            path = tmp_path / f"snippet_{number}.py"
            path.write_text(snippet.code.replace("ws://127.0.0.1:8765/ws", url))
            ran = subprocess.run(
                [sys.executable, str(path)],
                capture_output=True,
                text=True,
                timeout=timeout(120),
                env=env,
                cwd=tmp_path,
                check=False,
            )
            assert ran.returncode == 0, f"{snippet.code}\n{ran.stdout}\n{ran.stderr}"
            if "start_gateway" in snippet.code:  # .show() outside Jupyter: the run, live
                assert WEATHER in ran.stdout and "✓ demo-weather completed" in ran.stdout
                assert "⚙ get_weather" in ran.stdout

        for number, async_snippet in enumerate(of_kind("async")):
            code = async_snippet.code.replace("ws://127.0.0.1:8765/ws", url)
            body = textwrap.indent(code, "    ")
            script = tmp_path / f"async_snippet_{number}.py"
            script.write_text(
                f"import asyncio\n\n\nasync def main():\n{body}\n\nasyncio.run(main())\n"
            )
            ran = subprocess.run(
                [sys.executable, str(script)],
                capture_output=True,
                text=True,
                timeout=timeout(60),
                env=env,
                cwd=tmp_path,
                check=False,
            )
            assert ran.returncode == 0, ran.stdout + ran.stderr
            if "transports=" in code:  # the Transports section: long-poll, forced
                assert ran.stdout.strip() == "polling", ran.stdout
                continue
            assert "Received on alerts: {'level': 'high'}" in ran.stdout
            assert "{'level': 'low'}" in ran.stdout and WEATHER in ran.stdout
    finally:
        if gateway.poll() is None:
            os.killpg(gateway.pid, signal.SIGINT)  # Ctrl-C, as the README says
        out, err = gateway.communicate(timeout=timeout(20))
    assert gateway.returncode == 0, err
    assert out.strip().endswith("praison-push gateway stopped") and err == ""
