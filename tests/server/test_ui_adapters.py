"""Reading agent-UI requests: AG-UI's RunAgentInput and the AI SDK's {id, messages}."""

from __future__ import annotations

from typing import Any

import pytest

from praison_push.agents import Approval
from praison_push.protocol import FrameError
from praison_push.server.agui_adapter import AguiProtocol
from praison_push.server.ai_sdk_adapter import AiSdkProtocol
from praison_push.server.ui_streams import NewRun, ResumeRun, approval_from

RUN = "exec_00aa"


def ag_ui(**fields: Any) -> dict[str, Any]:
    return {"threadId": "t", "runId": "r", "messages": [], **fields}


def refused(protocol: Any, body: dict[str, Any]) -> FrameError:
    with pytest.raises(FrameError) as caught:
        protocol.parse(body)
    return caught.value


def test_ag_ui_input_is_the_last_user_messages_text() -> None:
    parts = [{"type": "text", "text": "What is "}, {"type": "text", "text": "up?"}]
    messages = [
        {"id": "1", "role": "user", "content": "first"},
        {"id": "2", "role": "assistant", "content": "ok"},
        {"id": "3", "role": "user", "content": parts},
    ]
    assert AguiProtocol().parse(ag_ui(messages=messages)) == NewRun("What is up?", "t")
    only_assistant = ag_ui(messages=[{"id": "1", "role": "assistant", "content": "x"}])
    assert refused(AguiProtocol(), only_assistant).details["field"] == "messages"


def test_ag_ui_resume_answers_the_runs_interrupts() -> None:
    resume = [
        {"interruptId": f"{RUN}:c1", "status": "resolved", "payload": {"approved": True}},
        {"interruptId": f"{RUN}:c2", "status": "cancelled"},
    ]
    parsed = AguiProtocol().parse(ag_ui(resume=resume))
    assert parsed == ResumeRun(
        RUN,
        [("c1", Approval(True)), ("c2", Approval(False, "cancelled"))],
        after_interrupt=f"{RUN}:c1",
    )
    bad = ag_ui(resume=[{"interruptId": "nocolon", "status": "resolved"}])
    assert refused(AguiProtocol(), bad).details["field"] == "resume"
    two = ag_ui(
        resume=[
            {"interruptId": "exec_1:c", "status": "resolved"},
            {"interruptId": "exec_2:c", "status": "resolved"},
        ]
    )
    assert "one run" in refused(AguiProtocol(), two).message


def test_approval_payloads() -> None:
    assert approval_from("resolved", None) == Approval(True)
    assert approval_from("resolved", False) == Approval(False)
    assert approval_from("resolved", {"approved": False, "reason": "no"}) == Approval(False, "no")
    assert approval_from("resolved", {"reason": 5}) == Approval(True, None)
    assert approval_from("cancelled", {"approved": True}) == Approval(False, "cancelled")


def user(text: str) -> dict[str, Any]:
    return {"id": "u", "role": "user", "parts": [{"type": "text", "text": text}]}


def test_ai_sdk_input_and_refusals() -> None:
    sdk = AiSdkProtocol()
    assert sdk.parse({"id": "c", "messages": [user("hi")]}) == NewRun("hi", "c")
    assert sdk.parse({"messages": [user("hi")]}) == NewRun("hi", None)
    assert refused(sdk, {"id": "c", "messages": ["x"]}).details["field"] == "messages.0"
    assert refused(sdk, {"id": "x" * 300, "messages": [user("hi")]}).details["field"] == "id"
    no_text = {"messages": [{"id": "u", "role": "user", "parts": [{"type": "file"}]}]}
    assert refused(sdk, no_text).details["field"] == "messages"


def responded(approval_id: str, approved: bool = True) -> dict[str, Any]:
    return {
        "type": "tool-rm",
        "toolCallId": approval_id.rpartition(":")[2],
        "state": "approval-responded",
        "approval": {"id": approval_id, "approved": approved},
    }


def test_ai_sdk_approval_responses_resume_the_run() -> None:
    sdk = AiSdkProtocol()
    assistant = {"id": "a", "role": "assistant", "parts": [{"type": "text", "text": "x"}]}
    assistant["parts"].append(responded(f"{RUN}:c1", approved=False))
    parsed = sdk.parse({"id": "c", "messages": [user("hi"), assistant]})
    assert parsed == ResumeRun(RUN, [("c1", Approval(False))], after_interrupt=f"{RUN}:c1")
    # An assistant message without responses: the last user message is the input.
    plain = {"id": "a", "role": "assistant", "parts": [{"type": "text", "text": "x"}]}
    assert sdk.parse({"messages": [user("hi"), plain]}) == NewRun("hi", None)
    garbage = {"id": "a", "role": "assistant", "parts": [responded("nocolon")]}
    assert refused(sdk, {"messages": [user("hi"), garbage]}).details["field"] == "messages"
    two = {"id": "a", "role": "assistant", "parts": [responded("e1:c"), responded("e2:c")]}
    assert "more than one run" in refused(sdk, {"messages": [two]}).message
