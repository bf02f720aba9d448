"""Widgets in a real IPython kernel: they update while a cell blocks, and after it ends.

A kernel is started with jupyter_client (as a notebook server would) and fed
cells; its IOPub channel shows what a browser would receive. This is the test
of the claims that unit tests cannot make: updates come from the client's
threads and loops (not from the cell), with the blocking client while a cell
waits, and with the async client on the kernel's own event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import timeout

from .kernel_support import Kernel, start_kernel

pytestmark = pytest.mark.kernel


def comm_msgs(messages: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [
        m
        for m in messages
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("method") == method
    ]


def printed(messages: list[dict[str, Any]]) -> str:
    return "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    with start_kernel() as started:
        yield started


def test_widgets_update_while_a_blocking_cell_waits(kernel: Kernel) -> None:
    kernel.run(
        "from praison_push.notebook.gateway import start_gateway\n"
        "from praison_push.notebook.widgets import ExecutionView, TokenStream\n"
        "gw = start_gateway()\n"
        "client = gw.client()\n"
    )
    out = kernel.run(
        "run = client.execute('demo-long', '600@1000')\n"
        "stream = TokenStream(run)\n"
        "display(stream)\n"
        "run.wait(10)\n"  # the cell blocks until the run ends
        "import time; time.sleep(0.2)\n"
        "print('cell done')\n"
    )
    deltas = comm_msgs(out, "custom")
    finished = next(m["received"] for m in out if m["msg_type"] == "stream")
    # The deltas flowed during the cell, coalesced; the snapshot came at the end.
    assert len(deltas) >= 3 and all(m["received"] < finished for m in deltas)
    assert [m["content"]["data"]["content"]["seq"] for m in deltas] == list(
        range(1, len(deltas) + 1)
    )
    updates = comm_msgs(out, "update")
    assert any("snapshot" in m["content"]["data"]["state"] for m in updates)
    assert "application/vnd.jupyter.widget-view+json" in next(
        m["content"]["data"] for m in out if m["msg_type"] == "display_data"
    )
    check = kernel.run("print(stream.status, stream.text == run.output, repr(stream)[:12])")
    assert printed(check) == "completed True [demo-long ·\n"


def test_widgets_keep_updating_after_the_cell_ends(kernel: Kernel) -> None:
    out = kernel.run(
        "run2 = client.execute('demo-long', '300@300')\nview = ExecutionView(run2)\nview\n"
    )
    during = comm_msgs(out, "custom")
    after = kernel.drain(timeout(1.5))
    assert len(comm_msgs(after, "custom")) > len(during)
    check = kernel.run(
        "run2.wait(10); time.sleep(0.2); print(view.status, view.text == run2.output)"
    )
    assert printed(check) == "completed True\n"


def test_async_client_on_the_kernel_loop(kernel: Kernel) -> None:
    out = kernel.run(
        "import asyncio\n"
        "from praison_push import AsyncPushClient\n"
        "from praison_push.notebook.widgets import ChannelLog, PresenceList\n"
        "ac = AsyncPushClient(gw.url, auth_token=gw.token, client_id='nb-async')\n"
        "await ac.connect()\n"
        "log = ChannelLog(ac, 'alerts')\n"
        "people = PresenceList(ac, 'alerts')\n"
        "for _ in range(250):  # until both widgets have subscribed\n"
        "    if 'alerts' in ac.subscriptions:\n"
        "        break\n"
        "    await asyncio.sleep(0.02)\n"
        "client.subscribe('alerts')\n"
        "client.publish('alerts', {'level': 'high'})\n"
        "for _ in range(100):\n"
        "    await asyncio.sleep(0.02)\n"
        "    if log.messages and len(people.clients) == 2:\n"
        "        break\n"
        "ids = sorted(c['client_id'] for c in people.clients)\n"
        "print(log.messages[0]['data'], ids == sorted([client.client_id, 'nb-async']))\n"
        "run3 = await ac.execute('demo-weather', 'Paris?')\n"
        "view3 = ExecutionView(run3)\n"
        "await run3.wait(10)\n"
        "await asyncio.sleep(0.2)\n"
        "print(view3.status, 'Paris' in view3.text)\n"
    )
    assert printed(out) == '{"level": "high"} True\ncompleted True\n'
    assert comm_msgs(out, "custom")


def test_a_closed_widget_leaves_its_final_transcript_in_its_output(kernel: Kernel) -> None:
    """Closing a widget (or the kernel exiting) rewrites its outputs as the static transcript:
    the view's model is gone, so a saved notebook shows the text instead of "model not found"."""
    out = kernel.run(
        "from praison_push.notebook.gateway import start_gateway\n"
        "from praison_push.notebook.widgets import ChannelLog\n"
        "gw = start_gateway()\n"
        "closer = gw.client()\n"
        "log = ChannelLog(closer, 'closing')\n"
        "closer.publish('closing', {'n': 1}, echo=True)\n"
        "log\n"
    )
    (shown,) = [m for m in out if m["msg_type"] == "display_data"]
    display_id = shown["content"]["transient"]["display_id"]
    assert "text/html" in shown["content"]["data"]
    out = kernel.run(
        "import time\n"
        "deadline = time.monotonic() + 10\n"
        "while not log.messages and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "log.close()\n"
    )
    updates = [m for m in out if m["msg_type"] == "update_display_data"]
    final = updates[-1]["content"]
    assert final["transient"]["display_id"] == display_id
    assert "application/vnd.jupyter.widget-view+json" not in final["data"]
    assert final["data"]["text/plain"].startswith("ChannelLog closing: 1 message")
    assert "not live (closed)" in final["data"]["text/plain"]
    assert "&quot;n&quot;: 1" in final["data"]["text/html"]


def test_when_the_kernel_exits_its_widgets_outputs_become_their_transcripts() -> None:
    """A kernel shut down by its front end (restart, close) says so in every widget output."""
    import queue
    import time

    with start_kernel() as own:
        out = own.run(
            "from praison_push import start_gateway\n"
            "from praison_push.notebook import ChannelLog\n"
            "gw = start_gateway()\n"
            "log = ChannelLog(gw.client(), 'exiting')\n"
            "log\n"
        )
        (shown,) = [m for m in out if m["msg_type"] == "display_data"]
        display_id = shown["content"]["transient"]["display_id"]
        own.client.shutdown()  # a shutdown_request, as a front end sends it
        final = None
        deadline = time.monotonic() + timeout(20)
        while final is None and time.monotonic() < deadline:
            try:
                msg = own.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg["msg_type"] == "update_display_data":
                final = msg["content"]
    assert final is not None, "no output update while the kernel exited"
    assert final["transient"]["display_id"] == display_id
    assert "application/vnd.jupyter.widget-view+json" not in final["data"]
    assert "⚠ not live (kernel stopped)" in final["data"]["text/plain"]
    assert "not live (kernel stopped)" in final["data"]["text/html"]
