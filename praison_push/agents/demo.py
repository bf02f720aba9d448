"""Demo agents: offline, deterministic, no API key — for docs, notebooks, tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

from .context import AgentContext
from .events import AgentEvent, ToolCall, ToolResult, Usage
from .registry import AgentRegistry

__all__ = ["DEMO_AGENTS", "demo_long", "demo_weather", "echo", "register_demo_agents"]

#: Pause between demo tokens, so a person sees the stream move.
TOKEN_DELAY = 0.01
#: The longest demo-long run: demo agents are on by default, so anyone may start one.
MAX_DEMO_TOKENS = 100_000

_WEATHER = {
    "paris": (18, "partly cloudy"),
    "london": (14, "light rain"),
    "tokyo": (22, "clear"),
    "new york": (20, "sunny"),
}


async def echo(text: str) -> AsyncIterator[AgentEvent]:
    """Streams the input back, word by word."""
    words = text.split(" ")
    for index, word in enumerate(words):
        yield word if index == len(words) - 1 else word + " "
        await asyncio.sleep(0)


def _city(text: str) -> str:
    match = re.search(r"\bin ([A-Za-z][A-Za-z .'-]*?)[?.!]*$", text.strip())
    return match.group(1).strip().title() if match else "Paris"


async def demo_weather(text: str) -> AsyncIterator[AgentEvent]:
    """Calls a ``get_weather`` tool, then streams the answer with usage counts."""
    city = _city(text)
    call = ToolCall("get_weather", {"city": city, "unit": "celsius"}, id="tool_001")
    yield call
    await asyncio.sleep(TOKEN_DELAY)
    temperature, condition = _WEATHER.get(city.lower(), (16, "overcast"))
    yield ToolResult(call, {"temperature": temperature, "condition": condition})
    answer = f"The weather in {city} is currently {temperature}°C and {condition}."
    words = answer.split(" ")
    for index, word in enumerate(words):
        yield word if index == len(words) - 1 else word + " "
        await asyncio.sleep(TOKEN_DELAY)
    yield Usage(prompt_tokens=len(text.split()) + 40, completion_tokens=len(words) + 5)


def _long_params(text: str) -> tuple[int, float]:
    """``"500"``, ``"500@2000"`` (tokens @ tokens/s) or ``{"tokens": 500, "rate": 2000}``."""
    text = text.strip()
    try:
        if text.startswith("{"):
            params = json.loads(text)
            return int(params.get("tokens", 200)), float(params.get("rate", 200))
        if "@" in text:
            count, rate = text.split("@", 1)
            return int(count), float(rate)
        return (int(text) if text else 200), 200.0
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"demo-long input must be N, N@RATE or {{'tokens': N, 'rate': R}}; got {text[:40]!r}"
        ) from exc


async def demo_long(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
    """Streams N tokens at a steady rate (``"N@RATE"``), for load and widget tests."""
    count, rate = _long_params(text)
    if count < 0 or count > MAX_DEMO_TOKENS or rate <= 0:
        raise ValueError(f"demo-long needs 0 <= tokens <= {MAX_DEMO_TOKENS:,} and rate > 0")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        if ctx.cancelled:
            return
        # Pace against the schedule, not the previous token, so the rate holds under load.
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield f"t{index} "
    yield Usage(prompt_tokens=1, completion_tokens=count)


DEMO_AGENTS = {"echo": echo, "demo-weather": demo_weather, "demo-long": demo_long}


def register_demo_agents(registry: AgentRegistry) -> None:
    """Add ``echo``, ``demo-weather`` and ``demo-long`` to ``registry``."""
    for name, agent in DEMO_AGENTS.items():
        registry.register(name, agent)
