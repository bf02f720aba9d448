"""A real IPython kernel for tests, driven with jupyter_client as a notebook server would."""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import KernelManager, start_new_kernel
from support import timeout

from .helpers import WAIT

__all__ = ["Kernel", "start_kernel"]


class Kernel:
    """Run cells; collect each cell's IOPub messages up to its idle status."""

    def __init__(self, manager: KernelManager, client: Any) -> None:
        self.manager = manager
        self.client = client

    def run(
        self, code: str, seconds: float = WAIT, *, cell_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Run ``code``; with ``cell_id``, as the cell of that id (as JupyterLab sends it)."""
        msg_id = self.client.execute(code) if cell_id is None else self._execute(code, cell_id)
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = self.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            msg["received"] = time.monotonic()
            messages.append(msg)
            mine = msg["parent_header"].get("msg_id") == msg_id
            if mine and msg["msg_type"] == "error":
                pytest.fail("\n".join(msg["content"]["traceback"]))
            if mine and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return messages
        pytest.fail(f"the cell did not finish within {seconds}s:\n{code}")

    def _execute(self, code: str, cell_id: str) -> str:
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = self.client.session.msg("execute_request", content, metadata={"cellId": cell_id})
        self.client.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def drain(self, seconds: float) -> list[dict[str, Any]]:
        """Whatever IOPub carries during the next ``seconds`` (between cells)."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = self.client.get_iopub_msg(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            msg["received"] = time.monotonic()
            messages.append(msg)
        return messages


@contextlib.contextmanager
def start_kernel() -> Iterator[Kernel]:
    """A fresh ``python3`` kernel (this interpreter's ipykernel), shut down afterwards."""
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=timeout(60))
    try:
        yield Kernel(manager, client)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
