"""AG-UI over HTTP: ``RunAgentInput`` in, AG-UI events out (the ``agui`` extra).

The request is read, and every event checked and encoded, with the
``ag-ui-protocol`` package's own models and ``EventEncoder`` — imported on
first use, so a gateway without the extra still starts (its AG-UI route then
answers 501). The events come from :class:`~praison_push.protocol.agui.AguiTranslator`.

Input: the text of the last ``user`` message is the run's input and
``threadId`` is its conversation (the gateway keeps the conversation's earlier
turns itself). An input with ``resume`` continues the run paused on those
interrupts instead: each ``ResumeEntry`` answers an approval request
(``resolved`` with ``payload`` ``{"approved": bool, "reason"?: str}`` — a
missing ``approved`` means yes — or ``cancelled``: a denial), and the stream
goes on from the pause.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..hub.run_manager import RunRecord
from ..protocol import ErrorCode, FrameError
from ..protocol.agui import AguiTranslator
from ..protocol.ui_stream import UiEvent, split_interrupt_id
from .ui_streams import NewRun, ResumeRun, approval_from

__all__ = ["AguiProtocol", "missing_extra"]

_EXTRA = "AG-UI needs the ag-ui-protocol package: pip install 'praison-push[agui]'"


def missing_extra() -> FrameError:
    """The refusal when ``ag-ui-protocol`` is not installed."""
    return FrameError(ErrorCode.INTERNAL, _EXTRA, details={"extra": "agui"})


@lru_cache(maxsize=1)
def _ag_ui() -> tuple[Any, Any, Any]:
    """``(RunAgentInput, Event adapter, encoder)``; ``ImportError`` without the extra."""
    from ag_ui.core import Event, RunAgentInput
    from ag_ui.encoder import EventEncoder

    return RunAgentInput, TypeAdapter(Event), EventEncoder()


def _loaded() -> tuple[Any, Any, Any]:
    try:
        return _ag_ui()
    except ImportError as exc:
        raise missing_extra() from exc


def _invalid(exc: ValidationError) -> FrameError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return FrameError(
        ErrorCode.INVALID_FIELD,
        f"invalid RunAgentInput: field '{where}': {first.get('msg', 'invalid')}",
        field=where,
        details={"errors": len(exc.errors())},
    )


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(getattr(part, "text", "") or "" for part in content)
    return ""


class AguiProtocol:
    """The AG-UI face of :class:`~praison_push.server.ui_streams.UiStreams`."""

    name = "ag-ui"
    headers: dict[str, str] = {}  # noqa: RUF012 (read-only)
    done = ""

    def parse(self, body: dict[str, Any]) -> NewRun | ResumeRun:
        run_input_type, _, _ = _loaded()
        try:
            run_input = run_input_type.model_validate(body)
        except ValidationError as exc:
            raise _invalid(exc) from None
        if run_input.resume:
            return _resume(run_input.resume)
        for message in reversed(run_input.messages):
            if getattr(message, "role", None) == "user":
                text = _text_of(getattr(message, "content", None))
                if text.strip():
                    return NewRun(text, conversation_id=run_input.thread_id)
                break
        raise FrameError(
            ErrorCode.INVALID_FIELD,
            "field 'messages' must end with a user message that has text (the run's input)",
            field="messages",
        )

    def translator(self, request: NewRun | ResumeRun | None, run: RunRecord) -> AguiTranslator:
        return AguiTranslator(run.conversation_id or run.execution_id, run.execution_id)

    def encode(self, event: UiEvent, sse_id: str) -> str:
        _, events, encoder = _loaded()
        record: str = encoder.encode(events.validate_python(event.fields))
        return f"id: {sse_id}\n{record}"


def _resume(entries: list[Any]) -> ResumeRun:
    runs: set[str] = set()
    answers = []
    for entry in entries:
        key = split_interrupt_id(entry.interrupt_id)
        if key is None:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                f"resume: unknown interrupt id {entry.interrupt_id[:80]!r}",
                field="resume",
            )
        runs.add(key[0])
        answers.append((key[1], approval_from(entry.status, entry.payload)))
    if len(runs) != 1:
        raise FrameError(
            ErrorCode.INVALID_FIELD, "resume: every interrupt must be of one run", field="resume"
        )
    return ResumeRun(runs.pop(), answers, after_interrupt=entries[0].interrupt_id)
