"""Domain helpers for agent-run tests: raw clients of each dialect, an SSE parser,
and one normal form for a run's events whatever transport carried them.

Every wait is bounded (``support.timeout``); nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from support import dial, http_client, timeout
from websockets.asyncio.client import ClientConnection

from praison_push.hub import Hub
from praison_push.protocol.runs import TERMINAL_EVENTS, RunEvent
from praison_push.server import GatewayThread

#: The demo-weather question every transport test asks, and the answer it must get.
QUESTION = "What is the weather in Paris?"
ANSWER = "The weather in Paris is currently 18°C and partly cloudy."
WEATHER_CALL = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
WEATHER_RESULT = {"temperature": 18, "condition": "partly cloudy"}

Frame = dict[str, Any]

#: Tokens of the org-scoping tests: the agent platform spec's user and org, and a second org.
TOKEN_A = "token-org-a"
TOKEN_A2 = "token-org-a-2"
TOKEN_B = "token-org-b"
USER_A, ORG_A = "usr_abc123", "org_xyz789"
USER_B, ORG_B = "usr_def456", "org_other"

Factory = Callable[..., GatewayThread]


def hub_of(gateway: GatewayThread) -> Hub:
    assert gateway.gateway is not None
    return gateway.gateway.hub


def register(gateway: GatewayThread, name: str, agent: Any) -> None:
    """Register ``agent`` on the gateway's own loop thread (the registry is not locked)."""
    hub = hub_of(gateway)
    gateway.call(lambda: hub.agents.register(name, agent))


async def recv(ws: ClientConnection, seconds: float = 3.0) -> Frame:
    """The next frame, whatever it is (keepalive pings included)."""
    frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), timeout(seconds)))
    return frame


async def send(ws: ClientConnection, frame: Frame) -> None:
    await ws.send(json.dumps(frame))


async def until(
    ws: ClientConnection, done: Callable[[Frame], bool], seconds: float = 5.0
) -> list[Frame]:
    """Every frame up to and including the first one ``done`` accepts.

    One bound covers the whole wait, so a test never hangs on a quiet socket.
    """
    frames: list[Frame] = []

    async def read() -> None:
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if done(frame):
                return

    try:
        await asyncio.wait_for(read(), timeout(seconds))
    except asyncio.TimeoutError:
        raise AssertionError(f"no matching frame within {seconds}s; got {frames}") from None
    return frames


def of_type(*kinds: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("type") in kinds


def run_event(*events: str) -> Callable[[Frame], bool]:
    """Matches a native ``channel_message`` carrying one of these run events."""

    def match(frame: Frame) -> bool:
        data = frame.get("data")
        return (
            frame.get("type") == "channel_message"
            and isinstance(data, dict)
            and data.get("event") in events
        )

    return match


RUN_END = run_event(*TERMINAL_EVENTS)


def has_token(word: str) -> Callable[[Frame], bool]:
    """Matches the native ``execution_token`` that carries ``word``.

    A fast agent's tokens may arrive coalesced, several to one event, so tests
    wait for a token's text rather than for an event index.
    """

    def match(frame: Frame) -> bool:
        data = frame.get("data")
        if not run_event("execution_token")(frame) or not isinstance(data, dict):
            return False
        return word in str(data.get("token", "")).split()

    return match


def long_output(count: int) -> str:
    """What ``demo-long`` streams for ``count`` tokens."""
    return "".join(f"t{index} " for index in range(count))


def streamed(events: Iterable[Frame]) -> str:
    """The text of a run's ``execution_token`` events, checking their indices run 0, 1, 2…"""
    tokens = [data for data in events if data.get("event") == "execution_token"]
    assert [token["index"] for token in tokens] == list(range(len(tokens))), tokens
    return "".join(token["token"] for token in tokens)


@asynccontextmanager
async def native(url: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A greeted native-dialect client."""
    async with dial(url, **kwargs) as ws:
        greeting = await recv(ws)
        assert greeting["type"] == "connected", greeting
        yield ws


@asynccontextmanager
async def envelope(url: str, token: str = "anything") -> AsyncIterator[ClientConnection]:
    """An authenticated envelope-dialect client (agent platform spec)."""
    async with dial(url + "?protocol=envelope") as ws:
        await send(ws, {"type": "auth", "payload": {"token": token}})
        reply = await recv(ws)
        assert reply["type"] == "auth_success", reply
        yield ws


async def execute(ws: ClientConnection, agent_id: str, text: str, **fields: Any) -> str:
    """Start a run over the native dialect; its execution id."""
    await send(ws, {"type": "execute", "agent_id": agent_id, "input": text, **fields})
    frames = await until(ws, of_type("execute.accepted", "error"))
    accepted = frames[-1]
    assert accepted["type"] == "execute.accepted", accepted
    execution_id: str = accepted["execution_id"]
    assert accepted["channel"] == f"executions:{execution_id}"
    return execution_id


async def run_events(ws: ClientConnection, seconds: float = 5.0) -> list[Frame]:
    """The ``data`` of every run event up to the run's end (native dialect)."""
    frames = await until(ws, RUN_END, seconds)
    return [frame["data"] for frame in frames if run_event(*_RUN_EVENTS)(frame)]


_RUN_EVENTS = tuple(event.value for event in RunEvent)


async def serves_a_run(url: str) -> None:
    """The gateway still runs agents: a fresh echo run completes with its output."""
    async with native(url) as ws:
        await execute(ws, "echo", "still alive")
        events = await run_events(ws)
    assert events[-1]["event"] == "execution_complete", events
    assert events[-1]["output"] == "still alive"


# --- Server-Sent Events ------------------------------------------------------------


@dataclass
class SSEEvent:
    """One dispatched SSE event (WHATWG HTML, "Interpreting an event stream")."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SSEParser:
    """An incremental ``text/event-stream`` parser: feed text chunks, get events.

    Handles lines split across chunks, ``\\r\\n``/``\\r``/``\\n`` endings,
    comments, multi-line ``data`` and ``retry``, as a browser's EventSource does.
    """

    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    _buffer: str = ""
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, chunk: str) -> list[SSEEvent]:
        self._buffer += chunk
        events: list[SSEEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return events
            end, after = cut
            line, self._buffer = self._buffer[:end], self._buffer[after:]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:].lstrip(" "))
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data, event_id = self._event or "message", self._data, self._id
        self._event, self._data, self._id = "", [], None
        if not data:
            return None
        return SSEEvent(event, "\n".join(data), event_id)


def _line_end(buffer: str) -> tuple[int, int] | None:
    """Where the first complete line of ``buffer`` ends, and where the next begins."""
    for index, char in enumerate(buffer):
        if char == "\n":
            return index, index + 1
        if char == "\r":
            if index + 1 == len(buffer):
                return None  # a "\r\n" may be split across chunks: wait for more
            return index, index + (2 if buffer[index + 1] == "\n" else 1)
    return None


async def sse_run(
    http_url: str,
    agent_id: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    seconds: float = 5.0,
) -> tuple[httpx.Response, SSEParser, list[SSEEvent]]:
    """POST a streamed run and read it to its ``done`` event."""
    parser = SSEParser()
    events: list[SSEEvent] = []
    async with (
        http_client(timeout=timeout(seconds)) as http,
        http.stream(
            "POST",
            f"{http_url}/v1/agents/{agent_id}/execute/stream",
            json=body,
            headers=headers,
        ) as response,
    ):

        async def read() -> None:
            async for chunk in response.aiter_text():
                events.extend(parser.feed(chunk))
                if events and events[-1].event == "done":
                    return

        await asyncio.wait_for(read(), timeout(seconds))
    return response, parser, events


# --- one normal form for every transport ---------------------------------------------

Normal = tuple[str, Any]


def _tool(call: Frame) -> Normal:
    if call.get("status") == "calling":
        return ("tool_call", {"name": call["name"], "arguments": call.get("arguments")})
    done = {"name": call["name"], "status": call["status"], "result": call.get("result")}
    return ("tool_result", done)


def normal_native(events: Iterable[Frame]) -> list[Normal]:
    """Run events (``data`` of native ``channel_message``s, or envelope payloads
    with ``event`` set to the frame type) in the normal form."""
    out: list[Normal] = []
    for data in events:
        event = data["event"]
        if event == "execution_tool_call_delta":
            out.append(("arguments", (data["tool_call_id"], data["delta"])))
        elif event == "execution_reasoning":
            out.append(("reasoning", data["delta"]))
        elif event == "execution_approval_request":
            out.append(("approval", data["name"]))
        elif event == "execution_approval_result":
            out.append(("approved", data["approved"]))
        elif event == "execution_start":
            out.append(("start", data["agent_id"]))
        elif event == "execution_token":
            out.append(("token", data["token"]))
        elif event == "execution_tool":
            out.append(_tool(data["tool_call"]))
        elif event == "execution_complete":
            out.append(("complete", data["output"]))
        elif event == "execution_error":
            out.append(("error", data["error"]["code"]))
    return out


def normal_envelope(frames: Iterable[Frame]) -> list[Normal]:
    return normal_native(
        {"event": frame["type"], **frame["payload"]}
        for frame in frames
        if frame["type"].startswith("execution_")
    )


_AGENT_CHAT_NEWS = {"streaming", "awaiting_approval", "approved", "denied"}


def normal_agent_chat(frames: Iterable[Frame]) -> list[Normal]:
    """Agent-chat frames in the normal form."""
    out: list[Normal] = []
    for frame in frames:
        kind = frame["type"]
        if kind == "agent_thinking" and "reasoning" in frame:
            out.append(("reasoning", frame["reasoning"]))
        elif kind == "agent_thinking":
            out.append(("start", frame["agent_id"]))
        elif kind == "stream_chunk" and not frame["done"]:
            out.append(("token", frame["chunk"]))
        elif kind == "tool_update" and frame["status"] in _AGENT_CHAT_NEWS:
            status = frame["status"]
            if status == "streaming":
                out.append(("arguments", (frame["tool_call_id"], frame["arguments_delta"])))
            elif status == "awaiting_approval":
                out.append(("approval", frame["tool_name"]))
            else:
                out.append(("approved", status == "approved"))
        elif kind == "tool_update":
            call = {"name": frame["tool_name"], "status": frame["status"]}
            for key in ("result", "arguments"):
                if key in frame:
                    call[key] = frame[key]
            out.append(_tool(call))
        elif kind == "response":
            out.append(("complete", frame["message"]))
    return out


def normal_sse(events: Iterable[SSEEvent]) -> list[Normal]:
    out: list[Normal] = []
    for event in events:
        data = event.json()
        if event.event == "tool_call_delta":
            out.append(("arguments", (data["tool_call_id"], data["delta"])))
        elif event.event == "reasoning":
            out.append(("reasoning", data["delta"]))
        elif event.event == "approval_request":
            out.append(("approval", data["name"]))
        elif event.event == "approval_result":
            out.append(("approved", data["approved"]))
        elif event.event == "execution_start":
            out.append(("start", data["agent_id"]))
        elif event.event == "token":
            out.append(("token", data["token"]))
        elif event.event in ("tool_call", "tool_result"):
            out.append(_tool(data))
        elif event.event == "complete":
            out.append(("complete", data["output"]))
        elif event.event == "error":
            out.append(("error", data["code"]))
    return out
