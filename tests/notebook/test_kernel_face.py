"""The blocking face inside a real Jupyter kernel: cells, interrupts, nest-asyncio.

praison_push never applies nest-asyncio; these tests show it does not need it
and survives a kernel where the user applied it.
"""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Iterator

import pytest
from support import timeout

from .kernel_support import Kernel, start_kernel

pytestmark = pytest.mark.kernel

SETUP = (
    "from praison_push import start_gateway\n"
    "gw = start_gateway()\n"
    "client = gw.client(client_id='cell')\n"
)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with start_kernel() as started:
        yield started


def printed(kernel: Kernel, code: str) -> str:
    return "".join(m["content"]["text"] for m in kernel.run(code) if m["msg_type"] == "stream")


def test_the_blocking_face_works_in_a_cell_and_a_kernel_interrupt_returns_control(
    kernel: Kernel,
) -> None:
    kernel.run(SETUP)
    assert printed(kernel, "print(client.execute('echo', 'hi there').result(timeout=10))") == (
        "hi there\n"
    )
    # A cell blocked in a long wait: interrupting the kernel must end it promptly.
    # "waiting" is printed once the cell's thread is inside wait_for (not before it, where
    # the interrupt would land in print's flush instead).
    msg_id = kernel.client.execute(
        "import sys, threading, time\n"
        "main = threading.main_thread().ident\n"
        "def announce():\n"
        "    while True:\n"
        "        frame, names = sys._current_frames().get(main), []\n"
        "        while frame is not None:\n"
        "            names.append(frame.f_code.co_name)\n"
        "            frame = frame.f_back\n"
        "        if 'wait_for' in names:\n"
        "            print('waiting', flush=True)\n"
        "            return\n"
        "        time.sleep(0.01)\n"
        "threading.Thread(target=announce, daemon=True).start()\n"
        "client.wait_for('never', 300)"
    )
    waiting = False
    error = None
    deadline = time.monotonic() + timeout(30)
    while time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=0.1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and "waiting" in msg["content"]["text"] and not waiting:
            waiting = True
            interrupted_at = time.monotonic()
            kernel.manager.interrupt_kernel()
        if msg["msg_type"] == "error":
            error = msg["content"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    assert waiting, "the cell never started waiting"
    assert error is not None and error["ename"] == "KeyboardInterrupt"
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))
    assert "client.wait_for('never', 300)" in shown  # the user's line
    for internal in ("concurrent/futures", "threading.py", "sync/portal.py", "praison_push/"):
        assert internal not in shown, shown  # not the portal thread's insides
    assert shown.count("File ") == 0, shown  # no frame but the cell's
    assert time.monotonic() - interrupted_at < timeout(10)
    # The client is still usable afterwards.
    assert printed(kernel, "print(client.publish('after', 1).event_id != '')") == "True\n"


def test_it_works_where_the_user_applied_nest_asyncio(kernel: Kernel) -> None:
    kernel.run("import nest_asyncio\nnest_asyncio.apply()\n" + SETUP)
    out = printed(
        kernel,
        "run = client.execute('demo-weather', 'Weather in Paris?')\n"
        "print(run.result(timeout=20))\n"
        "print(client.publish('x', {'n': 1}).delivered)\n",
    )
    assert out == "The weather in Paris is currently 18°C and partly cloudy.\n0\n"
    # The async face on the kernel's own (patched) loop, with top-level await.
    out = printed(
        kernel,
        "from praison_push import PushClient\n"
        "async_client = PushClient(gw.url, auth_token=gw.token)\n"
        "await async_client.connect()\n"
        "receipt = await async_client.publish('x', {'n': 2})\n"
        "print(receipt.channel)\n"
        "await async_client.disconnect()\n",
    )
    assert out == "x\n"


def test_errors_show_the_message_and_the_users_frames_not_the_package(kernel: Kernel) -> None:
    """A ``wait_for`` timeout and a refused request read as the user's line and the message."""
    kernel.run(SETUP)
    for code, ename, message in (
        ("client.wait_for('quiet', 0.2)", "TimeoutError", "no message on channel 'quiet'"),
        ("client.execute('no-such-agent', 'hi')", "RequestRefused", "No agent with ID"),
        ("client.publish('bad name!', 1)", "ValueError", "invalid channel 'bad name!'"),
    ):
        msg_id = kernel.client.execute(code)
        error = None
        deadline = time.monotonic() + timeout(30)
        while time.monotonic() < deadline:
            try:
                msg = kernel.client.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                error = msg["content"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        assert error is not None and error["ename"] == ename, error
        shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))  # no colours
        assert message in shown and code in shown  # the message, and the user's own line
        for internal in ("praison_push/", "concurrent/futures", "asyncio/", "threading.py"):
            assert internal not in shown, shown
        assert shown.count("File ") == 0, shown  # no frame but the cell's
        assert len(shown.splitlines()) <= 8, shown
