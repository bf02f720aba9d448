"""The notebook re-run rule, in a real kernel: a cell run again replaces what it made.

Cells are sent as JupyterLab sends them (with their ``cellId``); the last
test sends none, as terminal IPython, where the cell is known by its source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .kernel_support import Kernel, start_kernel

pytestmark = pytest.mark.kernel

SETUP = (
    "from praison_push import start_gateway\n"
    "gw = start_gateway()\n"
    "client = gw.client(client_id='notebook')\n"
    "watcher = gw.client(client_id='watcher')\n"
)


def printed(messages: list[dict[str, Any]]) -> str:
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    with start_kernel() as started:
        yield started


def connections(kernel: Kernel) -> int:
    return int(printed(kernel.run("print(gw.stats()['connections'])", cell_id="probe")))


def test_rerunning_the_client_cell_keeps_the_connection_count(kernel: Kernel) -> None:
    kernel.run(SETUP, cell_id="setup")
    assert connections(kernel) == 2
    first = printed(kernel.run("print(id(client))", cell_id="probe"))
    for _ in range(3):
        kernel.run(SETUP, cell_id="setup")
        assert connections(kernel) == 2
    assert printed(kernel.run("print(id(client))", cell_id="probe")) != first
    # Another cell making a client is not the same cell: it adds one.
    kernel.run("extra = gw.client()", cell_id="other")
    assert connections(kernel) == 3
    kernel.run("extra.close()", cell_id="cleanup")


def test_rerunning_the_subscribe_cell_delivers_each_message_once(kernel: Kernel) -> None:
    kernel.run(SETUP, cell_id="setup")
    kernel.run("got = []", cell_id="state")
    subscribe = (
        "def handler(message):\n    got.append(message.data)\nclient.subscribe('alerts', handler)\n"
    )
    for _ in range(3):
        kernel.run(subscribe, cell_id="subscribe")
    also = "@client.on('channel_message')\ndef every(message):\n    got.append('on')\n"
    for _ in range(2):
        kernel.run(also, cell_id="on")
    out = kernel.run(
        "import time\n"
        "watcher.publish('alerts', {'n': 1})\n"
        "watcher.publish('alerts', {'n': 2})\n"
        # Callbacks run in order on one thread: once the last message's last call is
        # in, a duplicate of any message before it would be in too.
        "watcher.publish('alerts', 'end')\n"
        "deadline = time.monotonic() + 10\n"
        "while got[-2:] != ['end', 'on'] and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print(got.count('on'), [g for g in got if g != 'on'])\n",
        cell_id="publish",
    )
    # Each message once to the subscribe callback, once to the on() handler: 3 + 3.
    assert printed(out) == "3 [{'n': 1}, {'n': 2}, 'end']\n"


def test_without_cell_ids_the_source_names_the_cell(kernel: Kernel) -> None:
    kernel.run("got2 = []", cell_id="state2")
    code = "client.subscribe('beta', lambda m: got2.append(m.data))\n"
    for _ in range(3):
        kernel.run(code)  # as terminal IPython: no cellId
    out = kernel.run(
        "watcher.publish('beta', 1)\n"
        "watcher.publish('beta', 'end')\n"
        "deadline = time.monotonic() + 10\n"
        "while got2[-1:] != ['end'] and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print(got2)\n"
    )
    assert printed(out) == "[1, 'end']\n"
