"""A local OpenAI-compatible model: a small ASGI app that answers from a script.

``POST /v1/chat/completions`` answers each request with the next
:class:`ModelTurn` of its script — streamed as the OpenAI API streams
(``chat.completion.chunk`` records, tool calls with their arguments in pieces,
``reasoning_content`` deltas, a usage record, ``data: [DONE]``) or whole when
the request says ``stream: false``. ``GET /v1/models`` lists the one model.
It records every request body, and every stream its client closed before the
end (a cancelled agent must close its HTTP stream), so tests can see what the
model was told and when it was hung up on. No network beyond the socket it is
served on; serve it with :class:`~.model_server.FakeModelServer`.

An empty script answers ``You said: <last user message>``; a turn can also
fail with an HTTP status, or stream slowly, so errors and cancellation can be
tested against real HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FakeModel", "ModelTurn", "ScriptedToolCall"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class ScriptedToolCall:
    """A tool call the model makes: its arguments are streamed ``chunk`` characters at a time."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    chunk: int = 8

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class ModelTurn:
    """One answer of the model.

    Attributes:
        text: The answer, streamed a word at a time.
        tool_calls: Tool calls, streamed after the text.
        reasoning: Reasoning text, streamed first as ``delta.reasoning_content``.
        status: An HTTP error status to answer with instead (401, 404, 429, 500 …).
        error: The error message for ``status``.
        headers: Extra response headers (``retry-after`` …).
        delay: Seconds between streamed records (a slow model, for cancel tests).
        raw: Records to stream verbatim instead (``data:`` lines without the
            prefix), to test malformed streams.
        usage: ``prompt_tokens``/``completion_tokens``; counted from the text when absent.
    """

    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    reasoning: str = ""
    status: int = 200
    error: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    raw: tuple[str, ...] | None = None
    usage: dict[str, int] | None = None

    @classmethod
    def say(cls, text: str, **options: Any) -> ModelTurn:
        """The model answers ``text``."""
        return cls(text=text, **options)

    @classmethod
    def call(cls, name: str, arguments: dict[str, Any] | str, **options: Any) -> ModelTurn:
        """The model calls one tool (``id``/``chunk`` go to the call, the rest to the turn)."""
        call_options = {key: options.pop(key) for key in ("id", "chunk") if key in options}
        return cls(tool_calls=(ScriptedToolCall(name, arguments, **call_options),), **options)

    @classmethod
    def fail(cls, status: int, error: str = "scripted failure", **options: Any) -> ModelTurn:
        """The model server answers HTTP ``status``."""
        return cls(status=status, error=error, **options)


Responder = Callable[[dict[str, Any]], ModelTurn]


def _echo(body: dict[str, Any]) -> ModelTurn:
    """Without a script: repeat the last user message."""
    messages = body.get("messages") or []
    said = next(
        (m.get("content") for m in reversed(messages) if m.get("role") == "user"), "nothing"
    )
    return ModelTurn.say(f"You said: {said}")


class FakeModel:
    """The ASGI app of a scripted OpenAI-compatible chat model.

    Args:
        script: The turns to answer with, in order; after the last one (or
            with none) ``responder`` answers.
        model: The model name it reports.
        api_key: When set, requests must send ``Authorization: Bearer <api_key>`` (else 401).
        responder: Answers requests the script does not (default: echo the user).

    Attributes:
        requests: Every request body received, in order.
        hangups: ``time.monotonic()`` of each stream the client closed before its end.
    """

    def __init__(
        self,
        script: Iterable[ModelTurn] = (),
        *,
        model: str = "fake-model",
        api_key: str | None = None,
        responder: Responder = _echo,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.hangups: list[float] = []
        self._script: deque[ModelTurn] = deque(script)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"<FakeModel {self.model} {len(self._script)} turns left>"

    def add(self, *turns: ModelTurn) -> None:
        """Append turns to the script (thread-safe)."""
        with self._lock:
            self._script.extend(turns)

    def _next(self, body: dict[str, Any]) -> ModelTurn:
        with self._lock:
            self.requests.append(body)
            if self._script:
                return self._script.popleft()
        try:
            return self.responder(body)
        except Exception as exc:  # the script's fault: an answer the client can read
            return ModelTurn.fail(500, f"the fake model's responder raised {exc!r}")

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"].rstrip("/"), scope["method"]
        if not self._authorized(scope):
            await _json(send, 401, _error("Incorrect API key provided", "invalid_api_key"))
        elif method == "GET" and path.endswith("/models"):
            listing = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            await _json(send, 200, listing)
        elif method == "POST" and path.endswith("/chat/completions"):
            await self._complete(receive, send)
        else:
            await _json(send, 404, _error(f"no route {method} {path}", "not_found"))

    def _authorized(self, scope: Scope) -> bool:
        if self.api_key is None:
            return True
        headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        return hmac.compare_digest(given, f"Bearer {self.api_key}".encode())

    async def _complete(self, receive: Receive, send: Send) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        try:
            body = json.loads(raw)
        except ValueError:
            await _json(send, 400, _error("request body is not JSON", "invalid_request_error"))
            return
        turn = self._next(body if isinstance(body, dict) else {})
        headers = [(key.encode(), value.encode()) for key, value in turn.headers]
        if turn.status != 200:
            await _json(send, turn.status, _error(turn.error, str(turn.status)), headers)
        elif body.get("stream"):
            await self._stream(turn, body, receive, send, headers)
        else:
            await _json(send, 200, self._whole(turn), headers)

    def _whole(self, turn: ModelTurn) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
        if turn.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_text},
                }
                for call in turn.tool_calls
            ]
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": _finish(turn)}],
            "usage": _usage(turn),
        }

    async def _stream(
        self,
        turn: ModelTurn,
        body: dict[str, Any],
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        hung_up = asyncio.Event()
        state = {"finished": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["finished"]:
                self.hangups.append(time.monotonic())  # closed before the end
            hung_up.set()

        watcher = asyncio.ensure_future(watch())
        sse = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": sse + headers})
            for record in self._records(turn, body):
                if turn.delay:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(hung_up.wait(), turn.delay)
                if hung_up.is_set():
                    return
                chunk = f"data: {record}\n\n".encode()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            state["finished"] = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()

    def _records(self, turn: ModelTurn, body: dict[str, Any]) -> Iterable[str]:
        if turn.raw is not None:
            yield from turn.raw
            return
        base = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return json.dumps({**base, "choices": [choice]})

        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(turn.reasoning):
            yield chunk({"reasoning_content": piece})
        for piece in _pieces(turn.text):
            yield chunk({"content": piece})
        for index, call in enumerate(turn.tool_calls):
            text = call.arguments_text
            head = {"name": call.name, "arguments": ""}
            call_id = call.id or f"call_{next(self._ids)}"
            yield chunk(
                {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                 "function": head}]}
            )  # fmt: skip
            for start in range(0, len(text), max(call.chunk, 1)):
                piece = text[start : start + max(call.chunk, 1)]
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, _finish(turn))
        if (body.get("stream_options") or {}).get("include_usage"):
            yield json.dumps({**base, "choices": [], "usage": _usage(turn)})
        yield "[DONE]"


def _pieces(text: str) -> list[str]:
    """``text`` as the words a model would stream (spaces kept)."""
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + ([words[-1]] if words[-1] else [])


def _finish(turn: ModelTurn) -> str:
    return "tool_calls" if turn.tool_calls else "stop"


def _usage(turn: ModelTurn) -> dict[str, int]:
    usage = dict(turn.usage or {})
    usage.setdefault("prompt_tokens", 10)
    usage.setdefault("completion_tokens", len(_pieces(turn.text)) + len(turn.tool_calls))
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _error(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


async def _json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})
