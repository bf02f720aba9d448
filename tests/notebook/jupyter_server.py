"""A real Jupyter server (JupyterLab 4 and Notebook 7 in one) for the browser tests.

``jupyter lab`` on 127.0.0.1 (a free port, no token, a temp copy of
``notebooks/`` plus what a test adds, private settings and kernelspec from
:mod:`.jupyter_env`); with the ``notebook`` package installed the same server
also serves Notebook 7 at ``/notebooks/<path>``, so one server process serves
both hosts. It is shut down, with every kernel, at the end of the session, and
whatever it leaves behind is killed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import timeout

from .jupyter_env import NOTEBOOKS, make_jupyter_env

__all__ = ["ARTIFACTS", "STARTUP", "Lab", "start_lab"]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
#: Bound for the server to answer, the page to load, the kernel to start.
STARTUP = timeout(60)
#: User settings: no news or update checks (no network, no toast over the page).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.loads(response.read() or b"null")


@dataclass
class Lab:
    """A running ``jupyter lab`` and where its log goes."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    root: Path
    children: list[Any] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, seconds: float) -> None:
        """Poll ``/api/status`` (every 0.1 s at most) until it answers, within ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                _get(f"{self.url}/api/status")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"jupyter lab did not answer within {seconds:.0f}s:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Shut the server down (it stops its kernels); kill whatever it leaves behind."""
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            self.children = psutil.Process(self.process.pid).children(recursive=True)
        if self.process.poll() is None:
            try:
                request = urllib.request.Request(f"{self.url}/api/shutdown", method="POST")
                urllib.request.urlopen(request, timeout=5).close()
            except OSError:
                pass
            try:
                self.process.wait(timeout(20))
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout(5))
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout(5))
        for child in self.children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(self.children, timeout=timeout(5))


@contextlib.contextmanager
def start_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``jupyter lab`` on a temp copy of ``notebooks/``; stopped, with its kernels, at the end."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        pytest.fail("JupyterLab is needed: `pip install -e '.[dev]'` installs it")
    root = tmp_path_factory.mktemp("lab")
    jupyter = make_jupyter_env(root / "jupyter")
    notebooks = root / "notebooks"
    shutil.copytree(NOTEBOOKS, notebooks)
    settings = root / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (root / "workspaces").mkdir()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "jupyterlab-server.log"
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--ServerApp.allow_root=True",  # CI containers run as root
        f"--ServerApp.root_dir={notebooks}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={root / 'workspaces'}",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=jupyter.env, stdout=sink, stderr=subprocess.STDOUT, cwd=root
        )
    server = Lab(url=f"http://127.0.0.1:{port}", process=process, log=log, root=notebooks)
    try:
        server.wait_ready(STARTUP)
        # The notebooks' python3 kernel is this interpreter (where praison_push is installed).
        spec = _get(f"{server.url}/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
        assert spec["argv"][0] == sys.executable, spec
        yield server
    finally:
        server.stop()
