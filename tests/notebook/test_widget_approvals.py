"""The run widgets on the richer run events: argument deltas live, reasoning folded,
approval requests with Approve/Deny answered from the front end (issue 9)."""

from __future__ import annotations

from typing import Any

import pytest

from praison_push.agents import AgentContext, ToolCall, ToolResult
from praison_push.notebook.widgets import ExecutionView, StreamWidget, ToolCalls
from praison_push.sync import PushClient

from .helpers import WAIT, FakeExecution, FrontEnd, wait_until

pytestmark = pytest.mark.usefixtures("deterministic_widgets")


def test_arguments_stream_into_the_row_then_the_call_replaces_them(
    widgets: list[StreamWidget],
) -> None:
    run = FakeExecution()
    tools = ToolCalls(run)
    widgets.append(tools)
    run.emit("execution_tool_call_delta", tool_call_id="c1", name="get_weather", delta='{"ci')
    (row,) = tools.calls
    assert (row["name"], row["status"], row["arguments"]) == ("get_weather", "streaming", '{"ci')
    run.emit("execution_tool_call_delta", tool_call_id="c1", delta='ty": "Paris"}')
    assert tools.calls[0]["arguments"] == '{"city": "Paris"}'
    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Paris"}}
    run.emit("execution_tool", tool_call={**call, "status": "calling"})
    run.emit("execution_tool_call_delta", tool_call_id="c1", delta="late")  # ignored now
    run.emit("execution_tool", tool_call={**call, "status": "completed", "result": 18,
                                          "duration_ms": 12.4})  # fmt: skip
    (row,) = tools.calls
    assert (row["arguments"], row["status"], row["duration_ms"]) == (
        '{"city": "Paris"}',
        "completed",
        12,  # the agent's own measure, when it sent one
    )
    tools.checkpoint()
    page = FrontEnd(tools.snapshot)
    assert page.parts["calls"]["rows"]["c1"]["result"] == "18"


def test_reasoning_is_its_own_part_of_the_execution_view(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    view = ExecutionView(run)
    widgets.append(view)
    run.start()
    run.emit("execution_reasoning", delta="The user wants ")
    run.emit("execution_reasoning", delta="a greeting.")
    run.tokens(["Hello"])
    run.complete("Hello")
    assert (view.reasoning, view.text) == ("The user wants a greeting.", "Hello")
    assert "reasoning: 26 characters (folded)" in repr(view)
    page = FrontEnd(view.snapshot)  # the run ended: the snapshot holds everything
    assert page.parts["reasoning"]["text"] == "The user wants a greeting."
    assert page.text() == "Hello"


def test_an_approval_request_shows_pending_then_its_answer(widgets: list[StreamWidget]) -> None:
    run = FakeExecution()
    view = ExecutionView(run)
    widgets.append(view)
    run.emit("execution_approval_request", tool_call_id="c9", name="delete_file",
             arguments={"path": "/x"}, timeout=30)  # fmt: skip
    (row,) = view.calls
    assert (row["status"], row["approval"], row["approval_note"]) == (
        "waiting",
        "pending",
        "answer within 30 s",
    )
    assert row["arguments"] == '{"path": "/x"}'
    assert "[pending]" in repr(view)
    run.emit("execution_approval_result", tool_call_id="c9", name="delete_file", approved=False,
             reason="not that one")  # fmt: skip
    (row,) = view.calls
    assert (row["status"], row["approval"], row["approval_note"]) == (
        "failed",
        "denied",
        "not that one",
    )
    run.emit("execution_approval_result", tool_call_id="never", approved=True)  # ignored
    run.emit("execution_approval_request", tool_call_id="c10", name="pay", arguments={})
    run.emit("execution_approval_result", tool_call_id="c10", approved=False, timed_out=True)
    assert view.calls[1]["approval_note"] == "no answer in time"


def test_a_widget_without_a_run_cannot_answer(widgets: list[StreamWidget]) -> None:
    view = ExecutionView()
    widgets.append(view)
    with pytest.raises(RuntimeError, match="follows no run"):
        view.approve("c1")
    # From the front end: logged, not raised into the kernel's message handler.
    view._on_front_end_message(
        view, {"kind": "approve", "tool_call_id": "c1", "approved": True}, []
    )
    view._on_front_end_message(view, {"kind": "approve", "tool_call_id": 5}, [])  # malformed


async def guarded(text: str, ctx: AgentContext) -> Any:
    call = ToolCall("delete_file", {"path": text}, id="c1")
    decision = await ctx.request_approval(call)
    if decision.approved:
        yield call
        yield ToolResult(call, "deleted")
    yield f"approved={decision.approved} reason={decision.reason}"


def register(gateway: Any, name: str, agent: Any) -> None:
    hub = gateway.gateway.hub
    gateway.call(lambda: hub.agents.register(name, agent))


@pytest.mark.parametrize("kind", [ExecutionView, ToolCalls])
def test_the_buttons_answer_a_real_run(
    gateway: Any, widgets: list[StreamWidget], kind: type[Any]
) -> None:
    """A front-end click (``{"kind": "approve", …}``) answers through the widget's run,
    without blocking the kernel's thread, and the run goes on."""
    register(gateway, "guarded", guarded)
    with PushClient(gateway.url) as client:
        run = client.execute("guarded", "/tmp/x")
        widget = kind(run)
        widgets.append(widget)
        wait_until(lambda: widget.calls and widget.calls[0]["approval"] == "pending")
        click = {"kind": "approve", "tool_call_id": "c1", "approved": True}
        widget._on_front_end_message(widget, click, [])
        assert run.result(WAIT) == "approved=True reason=None"
        wait_until(lambda: widget.calls[0]["status"] == "completed", what="the tool row done")
        assert widget.calls[0]["approval"] == "approved"

        denied = client.execute("guarded", "/etc")
        other = kind(denied)
        widgets.append(other)
        wait_until(lambda: other.calls and other.calls[0]["approval"] == "pending")
        other.approve("c1", False, "no")
        assert denied.result(WAIT) == "approved=False reason=no"


def test_an_async_run_is_answered_on_its_own_loop(
    gateway: Any, widgets: list[StreamWidget]
) -> None:
    register(gateway, "guarded", guarded)
    from praison_push.sync.portal import get_portal

    with PushClient(gateway.url) as client:
        run = get_portal().call(client.async_client.execute("guarded", "/tmp/y"))
        view = ExecutionView(run)
        widgets.append(view)
        wait_until(lambda: view.calls and view.calls[0]["approval"] == "pending")
        view.approve("c1", True)
        assert get_portal().call(run.result(WAIT)) == "approved=True reason=None"


def test_show_in_a_terminal_returns_when_the_run_asks_a_person(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Outside a kernel ``run.show()`` prints the run live; a run that waits for an
    approval gives the prompt back (to answer it) instead of blocking on it."""
    from praison_push.notebook import start_gateway

    gw = start_gateway(port=0, token="t-show")
    try:
        gw.register_agent("guarded", guarded)
        with gw.client(client_id="terminal") as client:
            run = client.execute("guarded", "/tmp/z")
            run.show()  # returns at the approval request
            printed = capsys.readouterr().out
            assert "⏸ delete_file" in printed and "waits for approval" in printed
            assert run.pending_approvals and not run.done
            run.approve("c1", True)
            assert run.result(WAIT) == "approved=True reason=None"
    finally:
        gw.stop()
