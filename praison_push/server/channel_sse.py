"""``GET /api/push/sse``: channel messages as Server-Sent Events (PROTOCOL.md §5).

Two forms, both a hub connection (a :class:`~.poll_sessions.PollSession`)
drained into the response:

* ``?channels=a,b[&since=…]`` — a browser's ``EventSource``: the stream
  subscribes to the channels itself and sends each ``channel_message`` with
  ``id: a:<epoch>:<offset>,b:<epoch>:<offset>`` (every channel's position), so
  the ``Last-Event-ID`` a browser sends when it reconnects resumes every channel
  exactly (history replays the gap, or ``channel.subscribed`` says
  ``recovered: false``). ``since`` takes the same form. An ``event: subscribed``
  record with the starting position comes first.
* ``?poll_token=…`` — the stream of a poll session (``register`` first): every
  frame the session gets, one ``event: <type>`` record each; commands go over the
  poll routes with the same token (the Python client's SSE transport).

Both start with ``retry: 3000`` and send a ``: keepalive`` comment after each
``heartbeat_interval`` without a record. The session ends with the stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..hub import Hub, LimitExceeded
from ..protocol import ErrorCode, FrameError, encode_json
from ..protocol.sse import SSE_RETRY_MS
from .asgi import peer_of
from .http_auth import http_login
from .poll import error
from .poll_sessions import PollSession, PollSessions, redact_poll_token

__all__ = ["ChannelStream", "format_cursor", "parse_cursor"]

_POSITION = re.compile(r"^(.+):([A-Za-z0-9_-]{1,64}):(\d{1,18})$")
_MAX_CHANNELS = 100
_KEEPALIVE = ": keepalive\n\n"


def parse_cursor(text: str) -> dict[str, dict[str, Any]]:
    """``a:<epoch>:<offset>,b:…`` → ``{channel: {"offset", "epoch"}}``.

    Raises:
        FrameError: ``invalid_field`` naming ``since`` for a malformed position.
    """
    positions: dict[str, dict[str, Any]] = {}
    for part in filter(None, text.split(",")):
        match = _POSITION.match(part.strip())
        if match is None:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "'since' / Last-Event-ID must be channel:epoch:offset[,…]",
                field="since",
            )
        positions[match.group(1)] = {"offset": int(match.group(3)), "epoch": match.group(2)}
    return positions


def format_cursor(positions: dict[str, dict[str, Any]]) -> str:
    return ",".join(f"{name}:{p['epoch']}:{p['offset']}" for name, p in positions.items())


class ChannelStream:
    """The ``/api/push/sse`` endpoint, bound to a hub and its poll sessions."""

    #: Methods routed here, so a wrong one gets a JSON 405 (not Starlette's plain text).
    METHODS: ClassVar[list[str]] = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    def __init__(self, hub: Hub, sessions: PollSessions) -> None:
        self.hub = hub
        self.sessions = sessions

    async def handle(self, request: Request) -> Response:
        if request.method != "GET":
            response = error(
                ErrorCode.BAD_FRAME, f"method {request.method} not allowed: use GET", 405
            )
            response.headers["Allow"] = "GET"
            return response
        try:
            return await self._open(request)
        except FrameError as exc:
            status = 404 if exc.code is ErrorCode.UNKNOWN_CHANNEL else None
            return error(exc.code, exc.message, status, **exc.details)

    async def _open(self, request: Request) -> Response:
        hub = self.hub
        query = request.query_params
        principal = http_login(hub, request, "sse")
        poll_token = query.get("poll_token")
        redact_poll_token(request.scope)
        if poll_token:
            session = self.sessions.get(poll_token)
            if session is None:
                return error(
                    ErrorCode.INVALID_FIELD,
                    "unknown or expired poll_token: register again",
                    404,
                    field="poll_token",
                )
            if not self.sessions.owned_by(session, principal):
                raise FrameError(
                    ErrorCode.FORBIDDEN,
                    "this poll_token belongs to another identity",
                    field="poll_token",
                )
            session.connection.transport = "sse"  # the poll session's frames now come as SSE
            return _Stream(self._frames(session, None), self.sessions, session)
        names = [n.strip() for n in query.get("channels", "").split(",") if n.strip()]
        if not names:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "query parameter 'channels' is required (comma-separated names)",
                field="channels",
            )
        if len(names) > _MAX_CHANNELS:
            raise FrameError(
                ErrorCode.TOO_LARGE, f"at most {_MAX_CHANNELS} channels", limit="channels"
            )
        resume = request.headers.get("last-event-id") or query.get("since") or ""
        since = parse_cursor(resume)
        try:
            connection = hub.connect(
                client_id=query.get("client_id"),
                principal=principal,
                peer=peer_of(request.scope),
                dialect="praison",
                greet=False,
                transport="sse",
            )
        except LimitExceeded as exc:
            raise FrameError(ErrorCode.LIMIT_EXCEEDED, str(exc), limit=exc.limit) from None
        session = self.sessions.open(connection)
        positions: dict[str, dict[str, Any]] = {}
        try:
            for name in dict.fromkeys(names):
                frame: dict[str, Any] = {"type": "channel.subscribe", "channel": name}
                if name in since:
                    frame["since"] = since[name]
                reply = await self.sessions.feed(session, frame) or {}
                if reply.get("type") == "error":
                    details = reply.get("details") or {}
                    raise FrameError(
                        ErrorCode(reply.get("code", "invalid_field")),
                        f"channel {name!r}: {reply.get('message', '')}",
                        details={"channel": name, **details},
                    )
                positions[name] = {
                    "offset": reply.get("offset", 0),
                    "epoch": reply.get("epoch", ""),
                }
                if (
                    name in since
                    and reply.get("recovered")
                    and since[name]["epoch"] == reply.get("epoch")
                ):
                    positions[name] = dict(since[name])
        except BaseException:
            self.sessions.end(session)
            raise
        return _Stream(self._frames(session, positions), self.sessions, session)

    async def _frames(
        self, session: PollSession, positions: dict[str, dict[str, Any]] | None
    ) -> AsyncIterator[str]:
        """The records of the stream: everything the session gets, until it ends."""
        sessions = self.sessions
        config = self.hub.config
        keepalive = float(config.push.presence.heartbeat_interval)
        batch = config.push.polling.max_batch_size
        yield f"retry: {SSE_RETRY_MS}\n\n"
        if positions is not None:
            yield _record("subscribed", {"positions": positions}, format_cursor(positions))
        session.polling += 1  # a stream being served is never expired
        clock = sessions.clock
        alive_at = clock()
        try:
            while True:
                await session.wait(keepalive, session.generation)
                texts = session.take(batch)
                # A stream being served is a client alive, busy or quiet: the hub sees it
                # (presence stays online, no idle close) at least twice per heartbeat.
                if clock() - alive_at >= keepalive / 2 or not texts:
                    await sessions.feed(session, {"type": "pong"})
                    alive_at = clock()
                if not texts:
                    if session.connection.closing or sessions.get(session.token) is None:
                        return
                    yield _KEEPALIVE
                    continue
                yield "".join(_records(texts, positions))
        finally:
            session.polling -= 1
            sessions.end(session)


def _records(texts: list[str], positions: dict[str, dict[str, Any]] | None) -> list[str]:
    out: list[str] = []
    for text in texts:
        frame = json.loads(text)
        kind = frame.get("type")
        if kind == "ping":
            out.append(_KEEPALIVE)
            continue
        event_id = None
        if positions is not None and kind == "channel_message":
            channel = frame.get("channel")
            if channel in positions and isinstance(frame.get("offset"), int):
                positions[channel] = {"offset": frame["offset"], "epoch": frame.get("epoch", "")}
                event_id = format_cursor(positions)
        out.append(_raw_record(str(kind), text, event_id))
    return out


def _raw_record(event: str, data: str, event_id: str | None) -> str:
    head = f"event: {event}\n"
    if event_id is not None:
        head += f"id: {event_id}\n"
    return f"{head}data: {data}\n\n"


def _record(event: str, data: Any, event_id: str | None) -> str:
    return _raw_record(event, encode_json(data), event_id)


class _Stream(StreamingResponse):
    """The event stream; its poll session ends with the response, however it ends."""

    def __init__(
        self, content: AsyncIterator[str], sessions: PollSessions, session: PollSession
    ) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self._sessions = sessions
        self._session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._sessions.end(self._session)
