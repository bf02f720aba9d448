"""The AI SDK UI message stream over HTTP: ``{id, messages}`` in, stream parts out.

Input: the chat ``id`` is the run's conversation and the text parts of the
last ``user`` message are its input. A request whose last message is the
assistant's, with tool parts in state ``approval-responded``, answers the
run's approval requests instead (``approval: {id, approved, reason?}``, the
``id`` being the ``approvalId`` of ``tool-approval-request``) and continues
its stream. The parts come from :class:`~praison_push.protocol.ai_sdk.AiSdkTranslator`.
"""

from __future__ import annotations

from typing import Any

from ..hub.run_manager import RunRecord
from ..protocol import ErrorCode, FrameError, encode_json
from ..protocol.ai_sdk import UI_MESSAGE_STREAM_HEADERS, AiSdkTranslator
from ..protocol.ui_stream import UiEvent, split_interrupt_id
from .ui_streams import NewRun, ResumeRun, approval_from

__all__ = ["AiSdkProtocol"]


def _invalid(name: str, message: str) -> FrameError:
    return FrameError(ErrorCode.INVALID_FIELD, f"field '{name}' {message}", field=name)


def _answers(parts: list[Any]) -> ResumeRun | None:
    """The approval responses among an assistant message's parts, as one resume."""
    runs: set[str] = set()
    answers = []
    first = ""
    for part in parts:
        if not isinstance(part, dict) or part.get("state") != "approval-responded":
            continue
        approval = part.get("approval")
        key = split_interrupt_id(approval.get("id", "")) if isinstance(approval, dict) else None
        if key is None or not isinstance(approval, dict):
            raise _invalid("messages", "has an approval response without a known approval id")
        runs.add(key[0])
        first = first or str(approval["id"])
        approved = approval.get("approved") is True
        payload = {"approved": approved, "reason": approval.get("reason")}
        answers.append((key[1], approval_from("resolved", payload)))
    if not answers:
        return None
    if len(runs) != 1:
        raise _invalid("messages", "answers approvals of more than one run")
    return ResumeRun(runs.pop(), answers, after_interrupt=first)


class AiSdkProtocol:
    """The AI SDK face of :class:`~praison_push.server.ui_streams.UiStreams`."""

    name = "ai-sdk"
    headers = UI_MESSAGE_STREAM_HEADERS
    done = "data: [DONE]\n\n"

    def parse(self, body: dict[str, Any]) -> NewRun | ResumeRun:
        chat_id = body.get("id")
        if chat_id is not None and (not isinstance(chat_id, str) or len(chat_id) > 256):
            raise _invalid("id", "must be a string of at most 256 characters")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _invalid("messages", "is required: a non-empty list of UIMessage")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
                raise _invalid(f"messages.{index}", "must be a UIMessage with a 'parts' list")
        last = messages[-1]
        if last.get("role") == "assistant":
            resume = _answers(last["parts"])
            if resume is not None:
                return resume
        for message in reversed(messages):
            if message.get("role") == "user":
                text = "".join(
                    str(part.get("text", ""))
                    for part in message["parts"]
                    if isinstance(part, dict) and part.get("type") == "text"
                )
                if text.strip():
                    return NewRun(text, conversation_id=chat_id)
                break
        raise _invalid("messages", "must end with a user message that has text (the run's input)")

    def translator(self, request: NewRun | ResumeRun | None, run: RunRecord) -> AiSdkTranslator:
        return AiSdkTranslator(run.execution_id)

    def encode(self, event: UiEvent, sse_id: str) -> str:
        return f"id: {sse_id}\ndata: {encode_json(event.fields)}\n\n"
