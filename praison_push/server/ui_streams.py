"""The agent-UI endpoints' shared HTTP half: auth, run start, resume, stop, SSE out.

AG-UI (:mod:`.agui`) and the AI SDK UI message stream (:mod:`.ai_sdk`) differ
only in how a request is read and how an event is written; everything else is
here, once:

* ``POST /v1/agents/{agent_id}/<protocol>`` starts a run (or continues a run
  paused on an approval) and streams it. The stream is a hub connection in the
  ``sse-run`` pseudo-dialect watching the run's channel, so it sees exactly what
  every other watcher sees, and a client that goes away ends only its stream,
  never the run.
* ``GET /v1/agents/{agent_id}/<protocol>/runs/{run_id}/stream`` reopens a run's
  stream after ``?after=`` or the ``Last-Event-ID`` header (also honoured on the
  POST): the run is replayed from its history through a fresh translator and
  only the events after that id are sent (:mod:`praison_push.protocol.ui_stream`).
* ``POST /v1/runs/{run_id}/cancel`` stops a run, for its requester only.

Auth is the gateway's (``Authorization: Bearer`` or ``?token=``); bodies obey
``max_message_size``; connections, runs per client and the rest of the limits
are the hub's. A run is reachable only by the identity that started it (for
anonymous callers, by the ``client_id`` too when cancelling).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..agents import Approval
from ..hub import Connection, Hub, LimitExceeded
from ..hub.encoding import SSE_RUN
from ..hub.principal import Principal
from ..hub.run_manager import RunRecord
from ..protocol import ErrorCode, FrameError, decode_object
from ..protocol.runs import RunEvent
from ..protocol.sse import SSE_RETRY_MS
from ..protocol.ui_stream import (
    StreamPosition,
    Translator,
    UiEvent,
    event_id,
    parse_event_id,
)
from .asgi import peer_of
from .http_auth import http_login
from .sse import _RunStream, error_response

__all__ = ["NewRun", "ResumeRun", "UiProtocol", "UiStreams", "approval_from", "not_found"]

logger = logging.getLogger("praison_push.server")


@dataclass
class NewRun:
    """A request that starts a run on ``text`` (in ``conversation_id`` when given)."""

    text: str
    conversation_id: str | None = None


@dataclass
class ResumeRun:
    """A request that answers a paused run's approval requests and streams the rest.

    Attributes:
        execution_id: The run.
        answers: ``(tool_call_id, approval)`` for each request answered.
        after_interrupt: The id of the pause the stream continues from.
    """

    execution_id: str
    answers: list[tuple[str, Approval]] = field(default_factory=list)
    after_interrupt: str = ""


class UiProtocol(Protocol):
    """What differs between the agent-UI protocols."""

    name: str
    """The path segment: ``ag-ui`` or ``ai-sdk``."""
    headers: dict[str, str]
    """Extra response headers."""
    done: str
    """The record that follows a stream's last event (``""`` for none)."""

    def parse(self, body: dict[str, Any]) -> NewRun | ResumeRun:
        """Read a POST body. Raises :class:`FrameError` (``invalid_field``) when invalid."""
        ...

    def translator(self, request: NewRun | ResumeRun | None, run: RunRecord) -> Translator:
        """A fresh translator for ``run``'s stream."""
        ...

    def encode(self, event: UiEvent, sse_id: str) -> str:
        """One SSE record of ``event`` with ``id: sse_id``."""
        ...


def not_found(run_id: str) -> JSONResponse:
    """Unknown, forgotten and other people's runs answer alike (ids are not secrets)."""
    refusal = FrameError(ErrorCode.INVALID_FIELD, f"no run {run_id!r} of yours", field="run_id")
    return JSONResponse(refusal.to_error_fields(), status_code=404)


def approval_from(status: str, payload: Any) -> Approval:
    """An :class:`Approval` from a resumed interrupt (AG-UI) or an approval response."""
    if status != "resolved":
        return Approval(False, "cancelled")
    if isinstance(payload, dict):
        reason = payload.get("reason")
        return Approval(
            payload.get("approved", True) is True, reason if isinstance(reason, str) else None
        )
    return Approval(payload is not False)


class UiStreams:
    """The routes of one agent-UI protocol, bound to a hub."""

    def __init__(self, hub: Hub, protocol: UiProtocol) -> None:
        self.hub = hub
        self.protocol = protocol

    # --- requests -------------------------------------------------------------

    def _principal(self, request: Request) -> Principal | None:
        try:
            return http_login(self.hub, request, "sse")
        except FrameError:
            return None

    async def _body(self, request: Request) -> dict[str, Any]:
        limit = self.hub.config.limits.max_message_size
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise FrameError(
                    ErrorCode.TOO_LARGE,
                    f"body exceeds max_message_size={limit}",
                    limit="max_message_size",
                )
        return decode_object(raw or b"{}", max_size=limit)

    def _owned(self, run_id: str, principal: Principal, agent_id: str) -> RunRecord | None:
        run = self.hub.runs.get(run_id)
        if run is None or run.principal != principal or run.agent_id != agent_id:
            return None
        return run

    async def post(self, request: Request) -> Response:
        """``POST /v1/agents/{agent_id}/<protocol>``: start or continue a run, streamed."""
        principal = self._principal(request)
        if principal is None:
            return error_response(FrameError(ErrorCode.UNAUTHORIZED, "a valid token is required"))
        agent_id = request.path_params["agent_id"]
        last = request.headers.get("last-event-id")
        if last:
            return self._reopen(request, principal, agent_id, last, None)
        try:
            parsed = self.protocol.parse(await self._body(request))
        except FrameError as exc:
            if exc.code == ErrorCode.INTERNAL:  # the protocol's optional extra is missing
                return JSONResponse(exc.to_error_fields(), status_code=501)
            return error_response(exc)
        if isinstance(parsed, ResumeRun):
            return self._resume(request, principal, agent_id, parsed)
        try:
            connection = self._connect(request, principal)
        except FrameError as exc:
            return error_response(exc)
        try:
            run = self.hub.start_run(
                connection, agent_id, parsed.text, conversation_id=parsed.conversation_id
            )
        except FrameError as exc:
            self.hub.disconnect(connection)
            return error_response(exc)
        translator = self.protocol.translator(parsed, run)
        return self._respond(connection, run, translator, None, None)

    async def get(self, request: Request) -> Response:
        """``GET .../runs/{run_id}/stream``: reopen a run's stream after an event id."""
        principal = self._principal(request)
        if principal is None:
            return error_response(FrameError(ErrorCode.UNAUTHORIZED, "a valid token is required"))
        after = request.query_params.get("after") or request.headers.get("last-event-id")
        run_id = request.path_params["run_id"]
        return self._reopen(request, principal, request.path_params["agent_id"], after, run_id)

    async def reconnect(self, request: Request) -> Response:
        """``GET /v1/agents/{agent_id}/<protocol>/{chat_id}/stream``: the conversation's
        running run, from its start (or after ``Last-Event-ID``); ``204`` when none runs.

        The URL ``useChat({resume: true})``'s transport reconnects to.
        """
        principal = self._principal(request)
        if principal is None:
            return error_response(FrameError(ErrorCode.UNAUTHORIZED, "a valid token is required"))
        agent_id, chat_id = request.path_params["agent_id"], request.path_params["chat_id"]
        running = [
            run
            for run in self.hub.runs.records()
            if run.running
            and run.conversation_id == chat_id
            and run.agent_id == agent_id
            and run.principal == principal
        ]
        if not running:
            return Response(status_code=204)
        run = running[-1]  # the latest
        last = request.headers.get("last-event-id")
        parsed = parse_event_id(last) if last else None
        after = parsed[1] if parsed is not None and parsed[0] == run.execution_id else None
        return self._watch(request, principal, run, None, after, None)

    def _reopen(
        self,
        request: Request,
        principal: Principal,
        agent_id: str,
        after: str | None,
        run_id: str | None,
    ) -> Response:
        position: StreamPosition | None = None
        if after:
            parsed = parse_event_id(after)
            if parsed is None or (run_id is not None and parsed[0] != run_id):
                field_name = "after" if request.query_params.get("after") else "Last-Event-ID"
                refusal = FrameError(
                    ErrorCode.INVALID_FIELD,
                    f"{field_name} must be an event id of this run's stream "
                    "(<run_id>:<offset>:<index>)",
                    field=field_name,
                )
                return error_response(refusal)
            run_id, position = parsed
        assert run_id is not None
        run = self._owned(run_id, principal, agent_id)
        if run is None:
            return not_found(run_id)
        return self._watch(request, principal, run, None, position, None)

    def _resume(
        self, request: Request, principal: Principal, agent_id: str, resume: ResumeRun
    ) -> Response:
        run = self._owned(resume.execution_id, principal, agent_id)
        if run is None:
            return not_found(resume.execution_id)
        client_id = request.query_params.get("client_id")
        for tool_call_id, approval in resume.answers:
            try:
                self.hub.runs.answer(run.execution_id, tool_call_id, approval, principal, client_id)
            except FrameError as exc:
                return error_response(exc)
        return self._watch(request, principal, run, resume, None, resume.after_interrupt)

    def _watch(
        self,
        request: Request,
        principal: Principal,
        run: RunRecord,
        parsed: ResumeRun | None,
        after: StreamPosition | None,
        after_interrupt: str | None,
    ) -> Response:
        """Stream ``run`` from its history (the whole run replays through the translator)."""
        try:
            connection = self._connect(request, principal)
        except FrameError as exc:
            return error_response(exc)
        translator = self.protocol.translator(parsed, run)

        async def subscribed() -> AsyncIterator[str]:
            await self.hub.watch_run(connection, run)
            async for chunk in self._stream(connection, run, translator, after, after_interrupt):
                yield chunk

        return self._response(connection, run, subscribed())

    def _connect(self, request: Request, principal: Principal) -> Connection:
        try:
            return self.hub.connect(
                client_id=request.query_params.get("client_id"),
                principal=principal,
                peer=peer_of(request.scope),
                dialect=SSE_RUN,
                greet=False,
                transport="agent-ui",
            )
        except LimitExceeded as exc:
            raise FrameError(ErrorCode.LIMIT_EXCEEDED, str(exc), limit=exc.limit) from exc

    def _respond(
        self,
        connection: Connection,
        run: RunRecord,
        translator: Translator,
        after: StreamPosition | None,
        after_interrupt: str | None,
    ) -> Response:
        stream = self._stream(connection, run, translator, after, after_interrupt)
        return self._response(connection, run, stream)

    def _response(
        self, connection: Connection, run: RunRecord, stream: AsyncIterator[str]
    ) -> Response:
        headers = {
            "Cache-Control": "no-cache",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",
            "X-Run-Id": run.execution_id,
            "X-Client-Id": connection.client_id,
            **self.protocol.headers,
        }
        return _RunStream(stream, hub=self.hub, connection=connection, headers=headers)

    # --- the stream -------------------------------------------------------------

    async def _stream(
        self,
        connection: Connection,
        run: RunRecord,
        translator: Translator,
        after: StreamPosition | None,
        after_interrupt: str | None,
    ) -> AsyncIterator[str]:
        """The run's events as this protocol's SSE records, after ``after`` (or after
        the pause ``after_interrupt``), until an event that ends the stream."""
        protocol, execution_id = self.protocol, run.execution_id
        emitting = after is None and not after_interrupt
        seen = False  # the run's first event is being read
        try:
            yield f"retry: {SSE_RETRY_MS}\n\n"
            while True:
                await connection.wait_outgoing()
                closing = connection.closing  # read before draining (see sse.py)
                records: list[str] = []
                ended = False
                for text in connection.drain():
                    frame = json.loads(text)
                    kind = frame.get("type")
                    if kind == "ping":
                        records.append(": keepalive\n\n")
                        continue
                    data = frame.get("data")
                    if kind != "channel_message" or not isinstance(data, dict):
                        continue
                    if data.get("execution_id") != execution_id:
                        continue
                    offset = frame.get("offset")
                    offset = offset if isinstance(offset, int) else 0
                    events = translator.feed(data) if seen else _first(translator, data)
                    seen = True
                    for index, event in enumerate(events):
                        position = (offset, index)
                        if not emitting:
                            if after is not None and position > after:
                                emitting = True
                            elif event.ends_stream and not event.interrupt_ids:
                                # The run ended before the stream's start: nothing to send,
                                # or (a resume) the interrupt was never one of this run's.
                                if after_interrupt:
                                    failure = translator.fail(*UNKNOWN_INTERRUPT)
                                    records.extend(
                                        protocol.encode(e, event_id(execution_id, (offset, i)))
                                        for i, e in enumerate(failure)
                                    )
                                ended = True
                                break
                            else:
                                if after_interrupt and after_interrupt in event.interrupt_ids:
                                    emitting = True
                                continue
                        records.append(protocol.encode(event, event_id(execution_id, position)))
                        if event.ends_stream:
                            ended = True
                            break
                    if ended:
                        break
                if records:
                    yield "".join(records)
                if ended:
                    if protocol.done:
                        yield protocol.done
                    return
                if closing:
                    return
        finally:
            self.hub.disconnect(connection)

    # --- stop -------------------------------------------------------------------

    async def cancel(self, request: Request) -> Response:
        """``POST /v1/runs/{run_id}/cancel``: stop a run (its requester only)."""
        principal = self._principal(request)
        if principal is None:
            return error_response(FrameError(ErrorCode.UNAUTHORIZED, "a valid token is required"))
        run_id = request.path_params["run_id"]
        run = self.hub.runs.get(run_id)
        if run is None or run.principal != principal:
            return not_found(run_id)
        if not run.running:
            body = {"execution_id": run_id, "status": run.status, "cancelled": False}
            return JSONResponse(body, status_code=409)
        client_id = request.query_params.get("client_id")
        if not self.hub.runs.cancel(run_id, principal, client_id):
            refusal = FrameError(
                ErrorCode.FORBIDDEN,
                "only the run's requester may cancel it (anonymous callers: pass the "
                "X-Client-Id of its stream as ?client_id=)",
                field="client_id",
            )
            return error_response(refusal)
        return JSONResponse(
            {"execution_id": run_id, "status": "cancelling", "cancelled": True}, status_code=202
        )


#: Why a reopened stream fails when the run's start has left the history.
HISTORY_GONE = (
    "HISTORY_GONE",
    "the run's start is no longer in the gateway's history (HistoryConfig.size): "
    "its stream cannot be replayed without gaps",
)

#: Why a resume stream fails when its interrupt was never one of the run's.
UNKNOWN_INTERRUPT = ("UNKNOWN_INTERRUPT", "the run never paused on that interrupt or approval")


def _first(translator: Translator, data: dict[str, Any]) -> list[UiEvent]:
    """The events of the first run event a stream reads: the run's start, or a failure.

    Translation is replayed from the run's start; a history that lost it would
    give other ids and boundaries than the stream the client saw, so the
    stream ends with an error instead of a silent gap.
    """
    if data.get("event") == RunEvent.START:
        return translator.feed(data)
    return translator.fail(*HISTORY_GONE)
