"""``/api/push/poll/*``: HTTP long-poll, wire-compatible with PraisonAI push (PROTOCOL.md §5).

Every route authenticates like ``/ws`` (``Authorization: Bearer`` or
``?token=``) and, but for ``register`` and ``presence``, names its session with a
``poll_token`` bound to that identity. Commands become the native frames the
hub already handles (:mod:`.poll_sessions`), so publish, subscribe, presence,
acknowledgements, limits and permissions are the ones of every other transport.
Bad input is a 4xx JSON error naming the problem (``code``, ``message``,
``details.field`` or ``details.limit``), never a 500.

Routes (``POST`` with a JSON object body unless said otherwise):

* ``register {client_id?}`` → ``{client_id, poll_token, long_poll_timeout, max_batch_size}``
* ``messages {poll_token, timeout?, max?, cursor?}`` → ``{messages, poll_interval_hint, cursor}``
  (``closed: {code, reason}`` once the gateway closed the session)
* ``subscribe {poll_token, channel, since?, filters?}``, ``unsubscribe {poll_token, channel}``
* ``publish {poll_token, channel, data, id?}``, ``ack {poll_token, event_id | event_ids}``
* ``heartbeat {poll_token, status?, metadata?}``, ``GET presence?channel=[&poll_token=]``
* ``send {poll_token, frames}``★ any native frames (replies come with the messages)
* ``close {poll_token}``★ ends the session now
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from ..hub import Hub, LimitExceeded, Principal
from ..protocol import CloseCode, ErrorCode, FrameError, decode_object, encode_json
from .asgi import peer_of, route_path
from .http_auth import http_login
from .poll_sessions import PollSession, PollSessions, redact_poll_token

__all__ = ["PollRoutes"]

logger = logging.getLogger("praison_push.server")

_STATUS = {
    ErrorCode.UNAUTHORIZED.value: 401,
    ErrorCode.FORBIDDEN.value: 403,
    ErrorCode.UNKNOWN_CHANNEL.value: 404,
    ErrorCode.UNKNOWN_AGENT.value: 404,
    ErrorCode.TOO_LARGE.value: 413,
    ErrorCode.RATE_LIMITED.value: 429,
    ErrorCode.LIMIT_EXCEEDED.value: 429,
    ErrorCode.INTERNAL.value: 503,
}

#: The PraisonAI routes' bodies, as the native frames the hub handles.
_COMMANDS = {
    "subscribe": "channel.subscribe",
    "unsubscribe": "channel.unsubscribe",
    "publish": "channel.publish",
    "ack": "message_ack",
    "nack": "message_nack",
    "heartbeat": "presence.heartbeat",
}
_POST_ROUTES = frozenset({"register", "messages", "send", "close", *_COMMANDS})
_GET_ROUTES = frozenset({"presence"})
_MAX_FRAMES_PER_SEND = 100
#: Bytes a body may have beyond ``max_message_size``: its own fields around the frame.
_ENVELOPE_BYTES = 1024


def error(
    code: ErrorCode | str, message: str, status: int | None = None, **details: Any
) -> JSONResponse:
    """A JSON error body (the fields of an ``error`` frame) with its HTTP status."""
    value = code.value if isinstance(code, ErrorCode) else code
    body: dict[str, Any] = {"code": value, "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status or _STATUS.get(value, 400))


def _frame_error(exc: FrameError) -> JSONResponse:
    return JSONResponse(exc.to_error_fields(), status_code=_STATUS.get(exc.code.value, 400))


def _reply_response(reply: dict[str, Any] | None) -> JSONResponse:
    """The hub's reply frame as the HTTP answer (an ``error`` frame as a 4xx)."""
    if reply is None:
        return JSONResponse({"ok": True})
    reply.pop("ref", None)
    if reply.get("type") == "error":
        code = str(reply.get("code", "invalid_field"))
        return JSONResponse(reply, status_code=_STATUS.get(code, 400))
    return JSONResponse(reply)


class PollRoutes:
    """The ASGI app mounted at ``/api/push/poll`` (it routes by the last path segment).

    Args:
        hub: The gateway's hub.
        sessions: The poll sessions (shared with the channel SSE stream).
    """

    def __init__(self, hub: Hub, sessions: PollSessions) -> None:
        self.hub = hub
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except FrameError as exc:
            response = _frame_error(exc)
            if isinstance(exc, _UnknownSession):
                response.status_code = 404
        except ClientDisconnect:
            return
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        action = route_path(request.scope).strip("/")  # below the mount point
        method = request.method
        if not self.hub.config.push.polling.enabled:
            return error(
                ErrorCode.FORBIDDEN,
                "HTTP long-poll is disabled on this gateway (PollingConfig.enabled=False)",
                404,
                setting="push.polling.enabled",
            )
        if action not in _POST_ROUTES and action not in _GET_ROUTES:
            return error(ErrorCode.UNKNOWN_TYPE, f"no poll route {action!r}", 404, route=action)
        allowed = "GET" if action in _GET_ROUTES else "POST"
        if method != allowed:
            response = error(
                ErrorCode.BAD_FRAME,
                f"method {method} not allowed on {action}: use {allowed}",
                405,
                method=method,
            )
            response.headers["Allow"] = allowed
            return response
        principal = self._principal(request)
        if allowed == "GET":
            return await self._presence(request, principal)
        body = await self._body(request)
        if action == "register":
            return self._register(request, principal, body)
        session = self._session(body, principal)
        self.sessions.touch(session)
        if action == "messages":
            return await self._messages(session, body)
        if action == "close":
            self.sessions.end(session)
            return JSONResponse({"ok": True})
        if action == "send":
            return await self._send(session, body)
        # Any sign of life from the client counts as seen (presence, idle timeout).
        frame = {k: v for k, v in body.items() if k not in ("poll_token", "ref", "type")}
        frame["type"] = _COMMANDS[action]
        session.polling += 1
        try:
            reply = await self.sessions.feed(session, frame)
        finally:
            session.polling -= 1
            self.sessions.touch(session)
        if reply is None and session.connection.closing:
            return _closed_response(session)
        return _reply_response(reply)

    # --- pieces ---------------------------------------------------------------------

    def _principal(self, request: Request) -> Principal:
        return http_login(self.hub, request, "poll")

    async def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object body: at most ``max_message_size`` plus room for the envelope
        (``poll_token`` …), so a frame the WebSocket takes fits; each frame is held to
        ``max_message_size`` again by the hub."""
        limit = self.hub.config.limits.max_message_size + _ENVELOPE_BYTES
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise FrameError(
                    ErrorCode.TOO_LARGE,
                    f"body exceeds max_message_size={limit - _ENVELOPE_BYTES} bytes "
                    f"(+{_ENVELOPE_BYTES} for the request's own fields)",
                    limit="max_message_size",
                )
        return decode_object(bytes(raw) or b"{}", max_size=limit)

    def _session(self, body: dict[str, Any], principal: Principal) -> PollSession:
        token = body.get("poll_token")
        if not isinstance(token, str) or not token:
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "field 'poll_token' is required and must be a string (from register)",
                field="poll_token",
            )
        session = self.sessions.get(token)
        if session is None:
            raise _UnknownSession()
        if not self.sessions.owned_by(session, principal):
            raise FrameError(
                ErrorCode.FORBIDDEN,
                "this poll_token belongs to another identity",
                field="poll_token",
            )
        return session

    def _register(self, request: Request, principal: Principal, body: dict[str, Any]) -> Response:
        client_id = body.get("client_id")
        if client_id is not None and not isinstance(client_id, str):
            raise FrameError(
                ErrorCode.INVALID_FIELD, "field 'client_id' must be a string", field="client_id"
            )
        try:
            connection = self.hub.connect(
                client_id=client_id,
                principal=principal,
                peer=peer_of(request.scope),
                dialect="praison",
                transport="poll",
            )
        except LimitExceeded as exc:
            raise FrameError(ErrorCode.LIMIT_EXCEEDED, str(exc), limit=exc.limit) from None
        session = self.sessions.open(connection)
        polling = self.hub.config.push.polling
        return JSONResponse(
            {
                "client_id": connection.client_id,
                "poll_token": session.token,
                "long_poll_timeout": polling.long_poll_timeout,
                "max_batch_size": polling.max_batch_size,
            }
        )

    async def _messages(self, session: PollSession, body: dict[str, Any]) -> Response:
        polling = self.hub.config.push.polling
        timeout = _number(body, "timeout", float(polling.long_poll_timeout))
        timeout = min(max(timeout, 0.0), float(polling.long_poll_timeout))
        limit = int(_number(body, "max", polling.max_batch_size, integer=True))
        if limit < 1:
            raise FrameError(ErrorCode.INVALID_FIELD, "field 'max' must be at least 1", field="max")
        limit = min(limit, polling.max_batch_size)
        cursor = body.get("cursor")
        if cursor is not None and (not isinstance(cursor, int) or isinstance(cursor, bool)):
            raise FrameError(
                ErrorCode.INVALID_FIELD, "field 'cursor' must be an integer", field="cursor"
            )
        await self.sessions.feed(session, {"type": "pong"})  # seen: presence stays online
        if cursor is not None and cursor == session.batch_cursor - 1 and session.batch:
            return _batch(session.batch, session.batch_cursor)  # lost on the way
        session.generation += 1
        generation = session.generation
        session.wake()  # an older poll still waiting answers now, empty
        session.polling += 1
        try:
            await session.wait(timeout, generation)
        finally:
            session.polling -= 1
            self.sessions.touch(session)
        if generation != session.generation:
            return _batch([], session.batch_cursor)
        texts = session.take(limit)
        session.batch_cursor += 1
        session.batch = texts
        connection = session.connection
        if connection.closing and not session.queued():
            self.sessions.end(session)
            closed = {"code": connection.close_code, "reason": connection.close_reason}
            return _batch(texts, session.batch_cursor, closed)
        return _batch(texts, session.batch_cursor)

    async def _send(self, session: PollSession, body: dict[str, Any]) -> Response:
        frames = body.get("frames")
        if not isinstance(frames, list) or not all(isinstance(f, dict) for f in frames):
            raise FrameError(
                ErrorCode.INVALID_FIELD,
                "field 'frames' must be a list of frame objects",
                field="frames",
            )
        if len(frames) > _MAX_FRAMES_PER_SEND:
            raise FrameError(
                ErrorCode.TOO_LARGE,
                f"at most {_MAX_FRAMES_PER_SEND} frames per send",
                limit="frames",
            )
        session.polling += 1
        try:
            for frame in frames:
                await self.hub.receive(session.connection, encode_json(frame))
        finally:
            session.polling -= 1
            self.sessions.touch(session)
        return JSONResponse({"ok": True, "accepted": len(frames)})

    async def _presence(self, request: Request, principal: Principal) -> Response:
        channel = request.query_params.get("channel")
        token = request.query_params.get("poll_token")
        redact_poll_token(request.scope)
        frame: dict[str, Any] = {"type": "presence.query"}
        if channel is not None:
            frame["channel"] = channel
        if token:
            session = self._session({"poll_token": token}, principal)
            return _reply_response(await self.sessions.feed(session, frame))
        # No session: a connection of the caller's identity for this one query.
        try:
            connection = self.hub.connect(
                client_id=None,
                principal=principal,
                peer=peer_of(request.scope),
                dialect="praison",
                greet=False,
                transport="poll",
            )
        except LimitExceeded as exc:
            raise FrameError(ErrorCode.LIMIT_EXCEEDED, str(exc), limit=exc.limit) from None
        probe = PollSession("", connection, self.sessions.clock())
        connection.attach(probe)
        try:
            ref = "presence"
            frame["ref"] = ref
            await self.hub.receive(connection, encode_json(frame))
            reply = probe.take_reply(ref)
        finally:
            self.hub.disconnect(connection)
            connection.detach()
        return _reply_response(reply)


def _closed_response(session: PollSession) -> JSONResponse:
    """410: the gateway closed the session while handling the command (its reply is gone)."""
    connection = session.connection
    code = connection.close_code
    return error(
        ErrorCode.LIMIT_EXCEEDED if code == CloseCode.SLOW_CONSUMER else ErrorCode.INTERNAL,
        f"the session closed ({code} {connection.close_reason}): register again",
        410,
        close_code=code,
    )


class _UnknownSession(FrameError):
    def __init__(self) -> None:
        super().__init__(
            ErrorCode.INVALID_FIELD,
            "unknown or expired poll_token: register again",
            field="poll_token",
        )


def _number(body: dict[str, Any], name: str, default: float, *, integer: bool = False) -> float:
    value = body.get(name, default)
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise FrameError(ErrorCode.INVALID_FIELD, f"field {name!r} must be {kind}", field=name)
    return float(value)


def _batch(
    texts: list[str],
    cursor: int,
    closed: dict[str, Any] | None = None,
) -> Response:
    """``{messages, poll_interval_hint, cursor}``, the frames joined as they were encoded."""
    hint = 0  # long-poll: ask again at once (the wait happens on the server)
    tail = f',"closed":{encode_json(closed)}' if closed is not None else ""
    body = (
        '{"messages":['
        + ",".join(texts)
        + f'],"poll_interval_hint":{hint},"cursor":{cursor}'
        + tail
        + "}"
    )
    return Response(body, media_type="application/json")
