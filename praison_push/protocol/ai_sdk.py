"""A run's events as the AI SDK's UI message stream (protocol ``v1``).

A pure translator, like :mod:`.agui`: feed it a run's events in order, get the
stream's parts (``{"type": ...}`` dicts). The server writes each as an SSE
``data:`` record with the header ``x-vercel-ai-ui-message-stream: v1`` and
ends the stream with ``data: [DONE]``.

==============================  ===============================================
run event                       UI message stream parts
==============================  ===============================================
``execution_start``             ``start`` (``messageId``), ``start-step``
``execution_token``             ``text-start`` (first), ``text-delta``
``execution_reasoning``         ``reasoning-start`` (first), ``reasoning-delta``
``execution_tool_call_delta``   ``tool-input-start`` (first), ``tool-input-delta``
``execution_tool`` (calling)    ``tool-input-available``
``execution_tool`` (done)       ``tool-output-available`` / ``tool-output-error``
``execution_approval_request``  ``tool-approval-request``, ``finish-step``,
                                ``finish`` (the stream ends; the client answers)
``execution_approval_result``   ``start``, ``start-step`` of the continued
                                stream; ``tool-output-denied`` when denied
``execution_complete``          ``finish-step``, ``finish``
``execution_error``             ``error`` (``errorText`` names the code:
                                ``CANCELLED: …`` for a cancelled run)
==============================  ===============================================

Text and reasoning parts are closed (``*-end``) by anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .runs import ToolStatus
from .ui_stream import RunTranslator, UiEvent, interrupt_id

__all__ = ["UI_MESSAGE_STREAM_HEADERS", "AiSdkTranslator"]

#: The headers that mark a response as a UI message stream.
UI_MESSAGE_STREAM_HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}


class AiSdkTranslator(RunTranslator):
    """Turns one run's events into UI message stream parts (see the module's table).

    Args:
        message_id: The assistant message's id (the run's id when ``None``).
    """

    def __init__(self, message_id: str | None = None) -> None:
        super().__init__()
        self.message_id = message_id
        self._text: str | None = None
        self._reasoning: str | None = None
        self._names: dict[str, str] = {}  # tool calls started: their names
        self._streamed: dict[str, str] = {}  # ... their streamed input text
        self._available: set[str] = set()  # ... with tool-input-available sent

    def _on_approval_result(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id = data.get("tool_call_id")
        if data.get("approved") is not True and isinstance(call_id, str) and call_id:
            out.append(UiEvent({"type": "tool-output-denied", "toolCallId": call_id}))

    def _on_complete(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        self._close(out)
        out.append(UiEvent({"type": "finish-step"}))
        out.append(UiEvent({"type": "finish", "finishReason": "stop"}, ends_stream=True))

    def _on_error(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        self._close(out)
        error = data.get("error")
        error = error if isinstance(error, Mapping) else {}
        code = str(error.get("code") or "UNKNOWN")
        text = f"{code}: {error.get('message') or code.lower()}"
        out.append(UiEvent({"type": "error", "errorText": text}, ends_stream=True))

    def fail(self, code: str, message: str) -> list[UiEvent]:
        """A whole stream that fails before its first part, for a reason of the
        gateway's (not the run's): one ``error`` part."""
        self._ended = True
        return [UiEvent({"type": "error", "errorText": f"{code}: {message}"}, True)]

    def _start(self, out: list[UiEvent]) -> None:
        out.append(UiEvent({"type": "start", "messageId": self.message_id or self.run_id}))
        out.append(UiEvent({"type": "start-step"}))

    def _close(self, out: list[UiEvent]) -> None:
        if self._text is not None:
            out.append(UiEvent({"type": "text-end", "id": self._text}))
            self._text = None
        if self._reasoning is not None:
            out.append(UiEvent({"type": "reasoning-end", "id": self._reasoning}))
            self._reasoning = None

    def _on_text(self, token: Any, out: list[UiEvent]) -> None:
        if not isinstance(token, str) or not token:
            return
        if self._reasoning is not None:
            self._close(out)
        if self._text is None:
            self._text = self._next_id("text")
            out.append(UiEvent({"type": "text-start", "id": self._text}))
        out.append(UiEvent({"type": "text-delta", "id": self._text, "delta": token}))

    def _on_reasoning(self, delta: Any, out: list[UiEvent]) -> None:
        if not isinstance(delta, str) or not delta:
            return
        if self._text is not None:
            self._close(out)
        if self._reasoning is None:
            self._reasoning = self._next_id("reasoning")
            out.append(UiEvent({"type": "reasoning-start", "id": self._reasoning}))
        out.append(UiEvent({"type": "reasoning-delta", "id": self._reasoning, "delta": delta}))

    def _start_call(self, call_id: str, name: Any, out: list[UiEvent]) -> None:
        if call_id in self._names:
            return
        self._close(out)
        self._names[call_id] = name if isinstance(name, str) and name else "tool"
        start = {"type": "tool-input-start", "toolCallId": call_id}
        out.append(UiEvent({**start, "toolName": self._names[call_id]}))

    def _input_available(self, call_id: str, arguments: Any, out: list[UiEvent]) -> None:
        if call_id in self._available:
            return
        self._available.add(call_id)
        if arguments is None and call_id in self._streamed:
            try:
                arguments = json.loads(self._streamed[call_id])
            except ValueError:
                arguments = self._streamed[call_id]
        available = {"type": "tool-input-available", "toolCallId": call_id}
        available["toolName"] = self._names[call_id]
        available["input"] = {} if arguments is None else arguments
        out.append(UiEvent(available))

    def _on_tool_delta(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id, delta = data.get("tool_call_id"), data.get("delta")
        if not isinstance(call_id, str) or not call_id or not isinstance(delta, str):
            return
        self._start_call(call_id, data.get("name"), out)
        if call_id in self._available:
            return
        self._streamed[call_id] = self._streamed.get(call_id, "") + delta
        out.append(
            UiEvent({"type": "tool-input-delta", "toolCallId": call_id, "inputTextDelta": delta})
        )

    def _on_tool(self, call: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            return
        self._start_call(call_id, call.get("name"), out)
        self._input_available(call_id, call.get("arguments"), out)
        status = call.get("status")
        if status == ToolStatus.FAILED:
            error = {"type": "tool-output-error", "toolCallId": call_id}
            out.append(UiEvent({**error, "errorText": str(call.get("error"))}))
        elif status != ToolStatus.CALLING:
            output = {"type": "tool-output-available", "toolCallId": call_id}
            out.append(UiEvent({**output, "output": call.get("result")}))

    def _on_approval(self, data: Mapping[str, Any], out: list[UiEvent]) -> None:
        call_id = data.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            return
        if not self._open:  # a second request while paused: its own short stream
            self._open = True
            self._start(out)
        self._start_call(call_id, data.get("name"), out)
        self._input_available(call_id, data.get("arguments"), out)
        self._close(out)
        key = interrupt_id(self.run_id, call_id)
        request = {"type": "tool-approval-request", "approvalId": key, "toolCallId": call_id}
        out.append(UiEvent(request))
        out.append(UiEvent({"type": "finish-step"}))
        self._open = False
        finish = {"type": "finish", "finishReason": "tool-calls"}
        out.append(UiEvent(finish, ends_stream=True, interrupt_ids=(key,)))
