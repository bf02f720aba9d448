"""A run's events as AG-UI events (the Agent User Interaction protocol, 1.0).

A pure translator: feed it a run's events in order, get AG-UI events as
dicts in the protocol's camelCase (the server validates each one against the
``ag-ui-protocol`` package's models and encodes it with its ``EventEncoder``).

==============================  ===============================================
run event                       AG-UI events
==============================  ===============================================
``execution_start``             ``RUN_STARTED``
``execution_token``             ``TEXT_MESSAGE_START`` (first), ``TEXT_MESSAGE_CONTENT``
``execution_reasoning``         ``REASONING_START`` + ``REASONING_MESSAGE_START``
                                (first), ``REASONING_MESSAGE_CONTENT``
``execution_tool_call_delta``   ``TOOL_CALL_START`` (first), ``TOOL_CALL_ARGS``
``execution_tool`` (calling)    ``TOOL_CALL_START`` + ``TOOL_CALL_ARGS`` (unless
                                streamed), ``TOOL_CALL_END``
``execution_tool`` (done)       ``TOOL_CALL_RESULT`` (an error as its content)
``execution_approval_request``  ``RUN_FINISHED`` with outcome ``interrupt``
                                (the stream ends; the client resumes it)
``execution_approval_result``   ``RUN_STARTED`` of the resumed stream
``execution_complete``          ``RUN_FINISHED`` (outcome ``success``, ``result``, ``usage``)
``execution_error``             ``RUN_ERROR`` (``code``: ``CANCELLED``, …)
==============================  ===============================================

A text or reasoning message is closed (``*_END``) by anything else. The
``runId`` of every event is the run's execution id (the gateway's run, which
the client may cancel or reopen); ``threadId`` is the conversation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .runs import RunStatus, ToolStatus
from .ui_stream import RunTranslator, UiEvent, interrupt_id

__all__ = ["APPROVAL_INTERRUPT_REASON", "AguiTranslator"]

#: ``Interrupt.reason`` of an approval request.
APPROVAL_INTERRUPT_REASON = "tool_approval"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class AguiTranslator(RunTranslator):
    """Turns one run's events into AG-UI events (see the module's table).

    Args:
        thread_id: The AG-UI thread (our conversation); the run's id when it has none.
        run_id: The run's execution id (learnt from its events when not given).
    """

    def __init__(self, thread_id: str | None = None, run_id: str = "") -> None:
        super().__init__(run_id)
        self.thread_id = thread_id
        self._text: str | None = None
        self._reasoning: str | None = None
        self._started: set[str] = set()  # tool calls with TOOL_CALL_START sent
        self._streamed: set[str] = set()  # ... whose arguments came as deltas
        self._closed: set[str] = set()  # ... with TOOL_CALL_END sent

    def _ids(self) -> dict[str, Any]:
        return {"threadId": self.thread_id or self.run_id, "runId": self.run_id}

    def _seen(self, data: Mapping[str, Any]) -> None:
        if self.thread_id is None and isinstance(data.get("session_id"), str):
            self.thread_id = data["session_id"]

    def _start(self, out: list[UiEvent]) -> None:
        out.append(UiEvent({"type": "RUN_STARTED", **self._ids()}))

    def _on_complete(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        self._close_messages(out)
        output = data.get("output")
        finished: dict[str, Any] = {"type": "RUN_FINISHED", **self._ids()}
        finished["result"] = output if isinstance(output, str) else None
        finished["outcome"] = {"type": "success"}
        usage = _usage(data.get("usage"))
        if usage:
            finished["usage"] = [usage]
        out.append(UiEvent(finished, ends_stream=True))

    def _on_error(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        self._close_messages(out)
        out.append(UiEvent(_run_error(data), ends_stream=True))

    def fail(self, code: str, message: str) -> list[UiEvent]:
        """A whole stream that fails before its first event, for a reason of the
        gateway's (not the run's): ``RUN_STARTED``, then ``RUN_ERROR``."""
        self._ended = True
        started = UiEvent({"type": "RUN_STARTED", **self._ids()})
        return [started, UiEvent({"type": "RUN_ERROR", "message": message, "code": code}, True)]

    # --- messages -------------------------------------------------------------

    def _close_text(self, out: list[UiEvent]) -> None:
        if self._text is not None:
            out.append(UiEvent({"type": "TEXT_MESSAGE_END", "messageId": self._text}))
            self._text = None

    def _close_reasoning(self, out: list[UiEvent]) -> None:
        if self._reasoning is not None:
            message_id, self._reasoning = self._reasoning, None
            out.append(UiEvent({"type": "REASONING_MESSAGE_END", "messageId": message_id}))
            out.append(UiEvent({"type": "REASONING_END", "messageId": message_id}))

    def _close_messages(self, out: list[UiEvent]) -> None:
        self._close_text(out)
        self._close_reasoning(out)
        for call_id in sorted(self._started - self._closed):
            self._closed.add(call_id)
            out.append(UiEvent({"type": "TOOL_CALL_END", "toolCallId": call_id}))

    def _on_text(self, token: Any, out: list[UiEvent]) -> None:
        if not isinstance(token, str) or not token:
            return
        self._close_reasoning(out)
        if self._text is None:
            self._text = self._next_id("msg")
            start = {"type": "TEXT_MESSAGE_START", "messageId": self._text, "role": "assistant"}
            out.append(UiEvent(start))
        content = {"type": "TEXT_MESSAGE_CONTENT", "messageId": self._text, "delta": token}
        out.append(UiEvent(content))

    def _on_reasoning(self, delta: Any, out: list[UiEvent]) -> None:
        if not isinstance(delta, str) or not delta:
            return
        self._close_text(out)
        if self._reasoning is None:
            self._reasoning = message_id = self._next_id("reasoning")
            out.append(UiEvent({"type": "REASONING_START", "messageId": message_id}))
            start = {
                "type": "REASONING_MESSAGE_START",
                "messageId": message_id,
                "role": "reasoning",
            }
            out.append(UiEvent(start))
        content = {"type": "REASONING_MESSAGE_CONTENT", "messageId": self._reasoning}
        out.append(UiEvent({**content, "delta": delta}))

    # --- tool calls -------------------------------------------------------------

    def _start_call(self, call_id: str, name: Any, out: list[UiEvent]) -> None:
        if call_id in self._started:
            return
        self._close_text(out)
        self._close_reasoning(out)
        self._started.add(call_id)
        tool_name = name if isinstance(name, str) and name else "tool"
        start = {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": tool_name}
        out.append(UiEvent(start))

    def _end_call(self, call_id: str, arguments: Any, out: list[UiEvent]) -> None:
        """Send the arguments (unless streamed) and ``TOOL_CALL_END``, once."""
        if call_id in self._closed:
            return
        if call_id not in self._streamed and arguments is not None:
            delta = _json(arguments)
            out.append(UiEvent({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": delta}))
        self._closed.add(call_id)
        out.append(UiEvent({"type": "TOOL_CALL_END", "toolCallId": call_id}))

    def _on_tool_delta(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id, delta = data.get("tool_call_id"), data.get("delta")
        if not isinstance(call_id, str) or not call_id or not isinstance(delta, str):
            return
        self._start_call(call_id, data.get("name"), out)
        if call_id in self._closed:
            return
        self._streamed.add(call_id)
        out.append(UiEvent({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": delta}))

    def _on_tool(self, call: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            return
        self._start_call(call_id, call.get("name"), out)
        self._end_call(call_id, call.get("arguments"), out)
        status = call.get("status")
        if status == ToolStatus.CALLING:
            return
        if status == ToolStatus.FAILED:
            content = f"error: {call.get('error')}"
        else:
            result = call.get("result")
            content = result if isinstance(result, str) else _json(result)
        out.append(
            UiEvent(
                {
                    "type": "TOOL_CALL_RESULT",
                    "messageId": f"{self.run_id}-result-{call_id}",
                    "toolCallId": call_id,
                    "content": content,
                    "role": "tool",
                }
            )
        )

    def _on_approval(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id = data.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            return
        if not self._open:  # a second request while paused: its own short stream
            self._open = True
            self._start(out)
        self._start_call(call_id, data.get("name"), out)
        self._end_call(call_id, data.get("arguments"), out)
        self._close_messages(out)
        name = data.get("name")
        key = interrupt_id(self.run_id, call_id)
        interrupt: dict[str, Any] = {
            "id": key,
            "reason": APPROVAL_INTERRUPT_REASON,
            "message": f"approve the call of {name!s}?",
            "toolCallId": call_id,
            "responseSchema": {
                "type": "object",
                "properties": {"approved": {"type": "boolean"}, "reason": {"type": "string"}},
                "required": ["approved"],
            },
        }
        finished = {
            "type": "RUN_FINISHED",
            **self._ids(),
            "outcome": {"type": "interrupt", "interrupts": [interrupt]},
        }
        self._open = False
        out.append(UiEvent(finished, ends_stream=True, interrupt_ids=(key,)))


def _usage(usage: Any) -> dict[str, int]:
    """AG-UI's ``TokenUsage`` of a run's ``usage`` (the counts it has)."""
    if not isinstance(usage, Mapping):
        return {}
    names = {"prompt_tokens": "inputTokens", "completion_tokens": "outputTokens"}
    names["total_tokens"] = "totalTokens"
    return {
        ours: value
        for key, ours in names.items()
        if isinstance(value := usage.get(key), int) and not isinstance(value, bool) and value >= 0
    }


def _run_error(data: Mapping[str, Any]) -> dict[str, Any]:
    error = data.get("error")
    error = error if isinstance(error, Mapping) else {}
    code = str(error.get("code") or "UNKNOWN")
    message = str(error.get("message") or code.lower())
    if data.get("status") == RunStatus.CANCELLED and "cancel" not in message.lower():
        message = f"cancelled: {message}"
    return {"type": "RUN_ERROR", "message": message, "code": code}
