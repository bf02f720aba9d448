"""``%push`` / ``%%push`` in a plain IPython ``InteractiveShell`` (no notebook needed)."""

from __future__ import annotations

import atexit
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from support import timeout, wait_until_threaded
from traitlets.config import Config

from praison_push.client import PublishReceipt
from praison_push.notebook import display as display_module
from praison_push.notebook import magics as magics_module
from praison_push.notebook import saved as saved_module
from praison_push.notebook.gateway import NotebookGateway, start_gateway
from praison_push.notebook.widgets import ChannelLog, ExecutionView, PresenceList
from praison_push.sync import PushClient


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Everything the magics display, in order."""
    displayed: list[Any] = []
    monkeypatch.setattr(magics_module, "show", displayed.append)
    monkeypatch.setattr(display_module, "show", displayed.append)
    # As in a notebook kernel: runs show as widgets (elsewhere they print live).
    monkeypatch.setattr(saved_module, "in_kernel", lambda: True)
    return displayed


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.delenv("PRAISON_PUSH_URL", raising=False)
    monkeypatch.delenv("PRAISON_PUSH_TOKEN", raising=False)
    config = Config()
    config.HistoryManager.enabled = False  # no history database or its saving thread
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "praison_push")
    yield ip
    ip.run_line_magic("push", "gateway stop")
    # IPython registers a process-exit hook per shell that resets it and runs a
    # full gc.collect(): with a shell per test, the suite's exit took seconds.
    atexit.unregister(ip.atexit_operations)
    InteractiveShell.clear_instance()


def magics_of(shell: InteractiveShell) -> magics_module.PushMagics:
    instance = shell.magics_manager.registry["PushMagics"]
    assert isinstance(instance, magics_module.PushMagics)
    return instance


def test_load_ext_registers_line_and_cell_magics(shell: InteractiveShell) -> None:
    assert "push" in shell.magics_manager.magics["line"]
    assert "push" in shell.magics_manager.magics["cell"]


def test_cell_publishes_json_and_keeps_the_receipt(
    shell: InteractiveShell, shown: list[Any]
) -> None:
    shell.run_line_magic("push", "gateway start")
    gateway = shown[-1]
    assert isinstance(gateway, NotebookGateway) and gateway.running
    with PushClient(gateway.url, auth_token=gateway.token) as listener:
        inbox = listener.messages("alerts", timeout=timeout(5))
        shell.run_cell_magic("push", "alerts -o receipt", '{"level": "high"}\n')
        message = next(iter(inbox))
    assert message.data == {"level": "high"}
    receipt = shell.user_ns["receipt"]
    assert isinstance(receipt, PublishReceipt) and receipt.delivered == 1
    assert shown[-1] is receipt


def test_cell_publishes_text_unless_json_is_demanded(
    shell: InteractiveShell, shown: list[Any]
) -> None:
    shell.run_cell_magic("push", "notes", "just words\n")
    assert isinstance(shown[-1], PublishReceipt)
    gateway = magics_of(shell)._gateway
    assert gateway is not None
    history = magics_of(shell).client.history("notes")
    assert [m.data for m in history] == ["just words"]
    with pytest.raises(UsageError, match="not valid JSON"):
        shell.run_cell_magic("push", "notes --json", "not json")


def test_variables_expand_on_the_magic_line(shell: InteractiveShell, shown: list[Any]) -> None:
    shell.user_ns["topic"] = "expanded"
    shell.run_cell("%%push {topic}\n[1, 2]\n", store_history=False)
    receipt = shown[-1]
    assert isinstance(receipt, PublishReceipt) and receipt.channel == "expanded"


def test_subscribe_and_presence_show_live_widgets(
    shell: InteractiveShell, shown: list[Any]
) -> None:
    shell.run_line_magic("push", "subscribe alerts --limit 5")
    log = shown[-1]
    assert isinstance(log, ChannelLog)
    shell.run_line_magic("push", "presence alerts")
    assert isinstance(shown[-1], PresenceList)
    for widget in (log, shown[-1]):
        widget.close()


def test_execute_runs_the_agent_on_the_cell_body(shell: InteractiveShell, shown: list[Any]) -> None:
    shell.run_cell_magic("push", "execute demo-weather", "What is the weather in Tokyo?\n")
    view = shown[-1]
    assert isinstance(view, ExecutionView)
    run = magics_of(shell).last_execution
    assert run is not None
    answer = "The weather in Tokyo is currently 22°C and clear."
    assert run.result(timeout=timeout(10)) == answer
    # The view is fed on the client's callback thread: poll it briefly, bounded.
    end = time.monotonic() + timeout(5)
    while view.text != answer and time.monotonic() < end:
        time.sleep(0.01)
    assert view.text == answer
    view.close()


def test_connect_uses_another_gateway(shell: InteractiveShell, shown: list[Any]) -> None:
    other = start_gateway(token="elsewhere")
    try:
        shell.run_line_magic("push", f"connect {other.url} --token elsewhere")
        shell.run_cell_magic("push", "remote", '{"x": 1}')
        with PushClient(other.url, auth_token="elsewhere") as reader:
            assert [m.data for m in reader.history("remote")] == [{"x": 1}]
    finally:
        other.stop()


def test_environment_names_the_gateway(
    shell: InteractiveShell, shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = start_gateway(token="from-env")
    try:
        monkeypatch.setenv("PRAISON_PUSH_URL", other.url)
        monkeypatch.setenv("PRAISON_PUSH_TOKEN", "from-env")
        shell.run_cell_magic("push", "env", '"hello"')
        assert magics_of(shell).client.history("env")[0].data == "hello"
        assert magics_of(shell)._gateway is None  # no in-process gateway was started
    finally:
        other.stop()


def test_gateway_status_and_stop(
    shell: InteractiveShell, shown: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("push", "gateway status")
    assert "no in-process gateway is running" in capsys.readouterr().out
    shell.run_line_magic("push", "gateway start")
    shell.run_line_magic("push", "gateway status")
    gateway = shown[-1]
    assert isinstance(gateway, NotebookGateway)
    shell.run_line_magic("push", "gateway stop")
    assert not gateway.running


def test_a_reconnecting_client_is_kept_and_a_closed_one_replaced(
    shell: InteractiveShell, shown: list[Any]
) -> None:
    magics = magics_of(shell)
    first = magics.client
    first.async_client._up = False  # as while reconnecting after a network blip
    try:
        assert magics.client is first
    finally:
        first.async_client._up = True
    first.disconnect()
    assert first.closed
    second = magics.client
    assert second is not first and second.is_connected


def test_rerunning_subscribe_or_presence_closes_the_previous_widget(
    shell: InteractiveShell, shown: list[Any]
) -> None:
    shell.run_line_magic("push", "subscribe alerts")
    old_log = shown[-1]
    shell.run_line_magic("push", "presence")
    old_presence = shown[-1]
    shell.run_line_magic("push", "subscribe alerts")
    shell.run_line_magic("push", "presence")
    new_log, new_presence = shown[-2], shown[-1]
    assert isinstance(new_log, ChannelLog) and isinstance(new_presence, PresenceList)
    assert old_log._closed and old_presence._closed
    assert not new_log._closed and not new_presence._closed
    client = magics_of(shell).client.async_client
    assert len(client._dispatcher._callbacks.get("alerts", [])) <= 1
    shell.run_line_magic("push", "gateway stop")  # closes the widgets it showed
    assert new_log._closed and new_presence._closed


def test_a_bad_output_variable_publishes_nothing(shell: InteractiveShell, shown: list[Any]) -> None:
    with pytest.raises(UsageError, match="needs a variable name"):
        shell.run_cell_magic("push", "guarded -o 1bad", "{}")
    assert shown == []
    assert magics_of(shell)._client is None  # validated before connecting


def test_start_gateway_imports_and_works_without_ipython() -> None:
    code = (
        "import sys; sys.modules['IPython'] = None\n"
        "from praison_push import start_gateway\n"
        "gw = start_gateway(); c = gw.client()\n"
        "print(c.publish('x', 1).delivered); c.disconnect(); gw.stop()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout(60)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


@pytest.mark.parametrize(
    ("line", "cell", "message"),
    [
        ("", None, r"%push needs a command: gateway start\|stop\|status, connect URL"),
        ("frobnicate", None, "unknown command 'frobnicate'"),
        ("gateway reboot", None, "invalid choice"),
        ("subscribe", None, "required: channel"),
        ("subscribe alerts --limit many", None, "invalid int value"),
        ("execute demo-weather", None, "is a cell magic"),
        ('"unbalanced', None, "No closing quotation"),
        ("", "body", r"%%push needs the channel to publish the cell to"),
        ("alerts -o 1bad", "{}", "needs a variable name"),
        ("execute", "input", "required: agent"),
        ("execute demo-weather", "   ", "the cell body"),
        ("alerts --bogus", "{}", "unrecognized arguments"),
    ],
)
def test_bad_arguments_are_usage_errors(
    shell: InteractiveShell, shown: list[Any], line: str, cell: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        if cell is None:
            shell.run_line_magic("push", line)
        else:
            shell.run_cell_magic("push", line, cell)


def test_a_failing_command_is_one_line_not_a_traceback(
    shell: InteractiveShell, shown: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(magics_module.MagicError) as refused:
        shell.run_cell_magic("push", "execute no-such-agent", "hi\n")
    (line,) = refused.value._render_traceback_()
    assert "No agent with ID 'no-such-agent' exists" in line and line.count("\n") == 0
    with pytest.raises(magics_module.MagicError) as unreachable:
        shell.run_line_magic("push", "connect ws://127.0.0.1:9/ws")
    (line,) = unreachable.value._render_traceback_()
    assert "127.0.0.1:9" in line and "client_id" not in line
    # As a cell, IPython prints exactly that one line (and the cell fails).
    result = shell.run_cell("%push connect ws://127.0.0.1:9/ws")
    assert isinstance(result.error_in_exec, magics_module.MagicError)
    printed = capsys.readouterr()
    shown_lines = [ln for ln in (printed.out + printed.err).splitlines() if ln.strip()]
    assert len(shown_lines) == 1 and "praison_push:" in shown_lines[0], shown_lines


def test_execute_shows_approve_and_deny_that_answer_the_run(
    shell: InteractiveShell, shown: list[Any]
) -> None:
    """Issue 9: ``%%push execute`` gets the approval buttons of the ExecutionView too."""
    from praison_push.agents import AgentContext, ToolCall

    async def careful(text: str, ctx: AgentContext) -> Any:
        decision = await ctx.request_approval(ToolCall("deploy", {"to": text}, id="c1"))
        yield f"deployed={decision.approved}"

    magics_of(shell)._ensure_gateway().register_agent("careful", careful)
    shell.run_cell_magic("push", "execute careful", "production\n")
    view = shown[-1]
    assert isinstance(view, ExecutionView)
    wait_until_threaded(
        lambda: view.calls and view.calls[0]["approval"] == "pending", what="the approval request"
    )
    # What a click on Approve sends from the page.
    view._on_front_end_message(
        view, {"kind": "approve", "tool_call_id": "c1", "approved": True}, []
    )
    run = magics_of(shell).last_execution
    assert run is not None and run.result(timeout=timeout(10)) == "deployed=True"
    view.close()
