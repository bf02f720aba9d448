"""``ChatAgent``: an agent on any OpenAI-compatible chat-completions server.

OpenAI, Ollama, vLLM, LM Studio, a LiteLLM proxy — they all speak
``POST /v1/chat/completions``. ``ChatAgent`` streams the model's tokens and
reasoning, each tool call's arguments as they arrive, runs the Python tool
functions it was given (a person approves those marked so), hands their
results — or their errors — back to the model, and loops until the model
answers. A run in a conversation continues it with the conversation's turns.
Cancelling the run closes the HTTP stream to the model at once.

Needs the ``llm`` extra (the official ``openai`` SDK), imported when the agent
first talks to its model. HTTP failures end the run with a code saying what
happened (``MODEL_UNAUTHORIZED``, ``MODEL_NOT_FOUND``, ``RATE_LIMITED``,
``MODEL_UNAVAILABLE``, ``MODEL_TIMEOUT``, ``MODEL_ERROR``); the SDK retries
429s, 5xx and dropped connections ``max_retries`` times first.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..protocol.runs import RunErrorCode
from .context import AgentContext
from .events import AgentError, AgentEvent, Reasoning, ToolCall, ToolCallDelta, ToolResult, Usage
from .tools import Tool

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["ChatAgent"]

_INSTALL = "ChatAgent needs the 'llm' extra: pip install 'praison-push[llm]'"


class ChatAgent:
    """An agent backed by an OpenAI-compatible chat model; register it like any agent.

    Args:
        model: The model name the server knows (``gpt-4o-mini``, ``llama3.2`` …).
        base_url: The server's API root (``http://localhost:11434/v1`` for
            Ollama); ``OPENAI_BASE_URL`` or OpenAI's when ``None``.
        api_key: The key; ``OPENAI_API_KEY`` when ``None`` (a local server
            given by ``base_url`` needs none). Never shown in reprs or errors.
        tools: Python functions (sync or async, with type hints) the model may call.
        system: The system prompt.
        requires_approval: Names of tools each call of which a person must
            approve (or mark the functions with :func:`~.tools.requires_approval`).
        approval_timeout: Seconds to wait for an approval (the gateway's
            ``RunsConfig.approval_timeout`` when ``None``); no answer is a denial.
        max_turns: Most model calls in one run (tool loops end there).
        timeout: Seconds the SDK waits for the server (per request).
        max_retries: Retries of 408/409/429/5xx answers and dropped connections.
        temperature: Sampling temperature (the server's default when ``None``).
        extra_body: Extra fields for every request (server-specific options).
        client: An ``openai.AsyncOpenAI`` to use instead (tests, custom HTTP clients).

    Example::

        agent = ChatAgent("llama3.2", base_url="http://localhost:11434/v1", tools=[get_weather])
        gw.register("weather", agent)
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        tools: Sequence[Callable[..., Any]] = (),
        system: str | None = None,
        requires_approval: Iterable[str] = (),
        approval_timeout: float | None = None,
        max_turns: int = 8,
        timeout: float = 60.0,
        max_retries: int = 2,
        temperature: float | None = None,
        extra_body: Mapping[str, Any] | None = None,
        client: AsyncOpenAI | None = None,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ValueError("model must be a non-empty string")
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        approve = set(requires_approval)
        self.model = model
        self.tools = {tool.name: tool for tool in (Tool.of(fn) for fn in tools)}
        unknown = approve - set(self.tools)
        if unknown:
            raise ValueError(f"requires_approval names no tool of this agent: {sorted(unknown)}")
        for name in approve:
            self.tools[name] = Tool.of(self.tools[name].fn, approval=True)
        self.system = system
        self.approval_timeout = approval_timeout
        self.max_turns = max_turns
        self.temperature = temperature
        self.extra_body = dict(extra_body or {})
        self._base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if self._api_key is None and base_url is not None:
            self._api_key = "unused"  # local servers (Ollama, vLLM …) take any key
        self._timeout = timeout
        self._max_retries = max_retries
        self._given_client = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        self.__doc__ = f"Chat model {model} on {self._host}" + (
            f" with tools {', '.join(self.tools)}" if self.tools else ""
        )

    def __repr__(self) -> str:
        tools = f" tools={list(self.tools)}" if self.tools else ""
        return f"<ChatAgent {self.model} at {self._host}{tools}>"

    @property
    def _host(self) -> str:
        """Where the model is, without credentials a URL may carry."""
        if not self._base_url:
            return "api.openai.com"
        parts = urlsplit(self._base_url)
        return (parts.hostname or "?") + (f":{parts.port}" if parts.port else "")

    def _client(self) -> AsyncOpenAI:
        """One SDK client per event loop (its HTTP pool belongs to that loop)."""
        if self._given_client is not None:
            return self._given_client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            try:
                from openai import AsyncOpenAI
            except ImportError as exc:  # pragma: no cover - the extra is a dev dependency
                raise AgentError(RunErrorCode.AGENT_FAILED, _INSTALL) from exc
            if self._api_key is None:
                raise AgentError(
                    RunErrorCode.MODEL_UNAUTHORIZED,
                    "no API key: pass api_key=... or set OPENAI_API_KEY",
                )
            client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout,
                max_retries=self._max_retries,
            )
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close this event loop's connections to the model (the gateway calls it on stop)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    # --- a run ---------------------------------------------------------------------------

    async def __call__(self, text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
        """Answer ``text`` in the run ``ctx``: tokens, tool calls and their results, usage."""
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        messages.extend(dict(turn) for turn in ctx.history)
        messages.append({"role": "user", "content": text})
        usage = [0, 0]
        for _ in range(self.max_turns):
            turn = _Turn()
            async for event in self._stream(messages, turn):
                yield event
            usage[0] += turn.usage[0]
            usage[1] += turn.usage[1]
            if not turn.calls:
                if any(usage):
                    yield Usage(usage[0], usage[1])
                return
            messages.append(turn.assistant_message())
            for call_id, name, arguments_text in turn.calls:
                outcome: list[ToolResult] = []
                async for event in self._call_tool(ctx, call_id, name, arguments_text, outcome):
                    yield event
                content = _content_for_model(outcome[0])
                messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        raise AgentError(
            RunErrorCode.AGENT_FAILED,
            f"the model still called tools after max_turns={self.max_turns} model calls",
        )

    async def _stream(self, messages: list[dict[str, Any]], turn: _Turn) -> AsyncIterator[Any]:
        """One streamed model call: its events, and what it asked for in ``turn``."""
        from ._openai_http import model_errors

        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.tools:
            request["tools"] = [tool.spec() for tool in self.tools.values()]
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.extra_body:
            request["extra_body"] = self.extra_body
        with model_errors(self.model, self._host, self._timeout, self._max_retries):
            stream = await self._client().chat.completions.create(**request)
            try:
                async for chunk in stream:
                    for event in turn.absorb(chunk):
                        yield event
            finally:
                await stream.close()  # at once on cancel: the server sees the hang-up

    async def _call_tool(
        self,
        ctx: AgentContext,
        call_id: str,
        name: str,
        arguments_text: str,
        outcome: list[ToolResult],
    ) -> AsyncIterator[AgentEvent]:
        """Run one requested call (after its approval); ``outcome`` gets its result."""
        tool = self.tools.get(name)
        call = ToolCall(name, None, id=call_id)
        try:
            if tool is None:
                raise ValueError(f"no tool named {name!r}; the tools are {sorted(self.tools)}")
            arguments = tool.parse(arguments_text)
        except ValueError as exc:
            outcome.append(ToolResult(call, error=str(exc)))
            yield outcome[0]
            return
        call = ToolCall(name, arguments, id=call_id)
        if tool.approval:
            decision = await ctx.request_approval(call, timeout=self.approval_timeout)
            if not decision.approved:
                why = decision.reason or ("no answer in time" if decision.timed_out else "denied")
                outcome.append(ToolResult(call, error=f"denied by the user: {why}"))
                yield outcome[0]
                return
        yield call
        result = await tool.run(arguments)
        outcome.append(
            ToolResult(call, result.result, error=result.error, duration_ms=result.duration_ms)
        )
        yield outcome[0]


def _content_for_model(result: ToolResult) -> str:
    if result.error is not None:
        return f"Error: {result.error}"
    from .tools import _as_text

    return _as_text(result.result)


class _Turn:
    """One streamed model answer, put together from its chunks."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.usage = (0, 0)
        self._calls: dict[int, list[str]] = {}  # index → [id, name, arguments]

    @property
    def calls(self) -> list[tuple[str, str, str]]:
        return [(c[0], c[1], c[2]) for _, c in sorted(self._calls.items())]

    def assistant_message(self) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": "".join(self.text) or None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
                for call_id, name, args in self.calls
            ],
        }

    def absorb(self, chunk: Any) -> list[AgentEvent]:
        """The events of one ``chat.completion.chunk``."""
        events: list[AgentEvent] = []
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = (usage.prompt_tokens or 0, usage.completion_tokens or 0)
        # Chunks are read leniently (the SDK builds them unvalidated): a field a
        # server left out reads as absent, not as an error.
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            extra = getattr(delta, "model_extra", None) or {}
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(Reasoning(reasoning))
            content = getattr(delta, "content", None)
            if isinstance(content, str) and content:
                self.text.append(content)
                events.append(content)
            for piece in getattr(delta, "tool_calls", None) or ():
                events.extend(self._tool_piece(piece))
        return events

    def _tool_piece(self, piece: Any) -> list[AgentEvent]:
        index = getattr(piece, "index", None)
        index = index if isinstance(index, int) else len(self._calls)
        call = self._calls.setdefault(index, [f"call_{index}", "", ""])
        if getattr(piece, "id", None):
            call[0] = str(piece.id)
        function = getattr(piece, "function", None)
        name = getattr(function, "name", None)
        if isinstance(name, str) and name:
            call[1] += name
        arguments = getattr(function, "arguments", None)
        if not isinstance(arguments, str) or not arguments:
            return []
        call[2] += arguments
        return [ToolCallDelta(call[0], arguments, call[1] or None)]
