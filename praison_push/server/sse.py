"""``POST /v1/agents/{agent_id}/execute/stream``: an agent run as Server-Sent Events.

Exactly the agent platform spec's stream (PROTOCOL.md §5): ``retry: 3000``,
then ``execution_start``, ``token``, ``tool_call``, ``tool_result``,
``complete`` or ``error``, and ``done``. The stream is a hub connection in the
SSE pseudo-dialect watching the run's channel, so it gets exactly what a
WebSocket watcher gets; it starts its run the way a WebSocket ``execute`` does
(the same limits, ``max_runs_per_connection`` included, counted per
``?client_id=`` as for ``/ws``). A client that goes away stops its stream,
never the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..hub import Connection, Hub, LimitExceeded
from ..hub.encoding import SSE_EXECUTION
from ..protocol import ErrorCode, FrameError, decode_object
from ..protocol.sse import SSE_DONE, SSE_RETRY_MS
from .asgi import peer_of
from .http_auth import http_login

__all__ = ["ExecutionStream", "error_response"]

_STATUS = {
    ErrorCode.UNKNOWN_AGENT: 404,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.LIMIT_EXCEEDED: 429,
    ErrorCode.FORBIDDEN: 403,
}


def error_response(exc: FrameError) -> JSONResponse:
    """The JSON error body of an HTTP endpoint, with the matching status code."""
    status = 408 if exc.limit == "body_timeout" else _STATUS.get(exc.code, 400)
    return JSONResponse(exc.to_error_fields(), status_code=status)


class ExecutionStream:
    """The SSE run endpoint, bound to a hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def handle(self, request: Request) -> Response:
        hub = self.hub
        try:
            principal = http_login(hub, request, "sse")
        except FrameError as exc:
            return error_response(exc)
        try:
            body = await self._body(request)
        except FrameError as exc:
            return error_response(exc)
        try:
            connection = hub.connect(
                client_id=request.query_params.get("client_id"),
                principal=principal,
                peer=peer_of(request.scope),
                dialect=SSE_EXECUTION,
                greet=False,
                transport="sse-run",
            )
        except LimitExceeded as exc:
            refusal = FrameError(ErrorCode.LIMIT_EXCEEDED, str(exc), limit=exc.limit)
            return error_response(refusal)
        # The run is prepared only once the connection is admitted: a prepared run
        # that never starts would stay "running" in the manager forever.
        try:
            hub.start_run(
                connection,
                request.path_params["agent_id"],
                body["input"],
                conversation_id=body.get("session_id"),
            )
        except FrameError as exc:
            hub.disconnect(connection)
            return error_response(exc)
        headers = {
            "Cache-Control": "no-cache",
            "Connection": "keep-alive",
            "X-Accel-Buffering": "no",
        }
        return _RunStream(self._stream(connection), hub=hub, connection=connection, headers=headers)

    async def _body(self, request: Request) -> dict[str, Any]:
        limits = self.hub.config.limits
        limit = limits.max_message_size
        chunks: list[bytes] = []

        async def read() -> None:
            size = 0
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise FrameError(
                        ErrorCode.TOO_LARGE,
                        f"body exceeds max_message_size={limit}",
                        limit="max_message_size",
                    )

        try:
            # A body trickling in (slowloris after the head) holds the request: bounded.
            await asyncio.wait_for(read(), limits.body_timeout)
        except asyncio.TimeoutError:
            raise FrameError(
                ErrorCode.LIMIT_EXCEEDED,
                f"body not received within body_timeout={limits.body_timeout:g}s",
                limit="body_timeout",
            ) from None
        # The codec's checks (NaN, unpaired surrogates, nesting) apply to HTTP bodies
        # too: an unencodable input would poison the run's channel and the feed.
        body = decode_object(b"".join(chunks) or b"{}", max_size=limit)
        if not isinstance(body.get("input"), str):
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "field 'input' is required and must be a string",
                field="input",
            )
        session_id = body.get("session_id")
        if session_id is not None and not isinstance(session_id, str):
            raise FrameError(
                ErrorCode.INVALID_FIELD, "field 'session_id' must be a string", field="session_id"
            )
        return body

    async def _stream(self, connection: Connection) -> AsyncIterator[str]:
        try:
            yield f"retry: {SSE_RETRY_MS}\n\n"
            while True:
                await connection.wait_outgoing()
                # Read before draining: nothing is queued after a close, so this
                # drain flushes what came before it (a shutdown's cancelled-run
                # ``error`` and ``done``) instead of dropping it.
                closing = connection.closing
                records = connection.drain()
                if records:
                    yield "".join(records)
                if closing or SSE_DONE in records:
                    return
        finally:
            self.hub.disconnect(connection)


class _RunStream(StreamingResponse):
    """A run's event stream whose hub connection ends with the response, however it ends.

    The body generator's own ``finally`` runs only once iteration has begun; a
    client gone before the first byte (``ClientDisconnect`` from an ASGI 2.4
    server) would otherwise leave the connection subscribed and its connection
    slot taken for good.
    """

    def __init__(
        self,
        content: AsyncIterator[str],
        *,
        hub: Hub,
        connection: Connection,
        headers: dict[str, str],
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._hub = hub
        self._connection = connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._hub.disconnect(self._connection)
