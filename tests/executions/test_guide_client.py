"""The agent framework guide's own clients, unchanged, against the gateway.

``tests/fixtures/agent_framework_client.py`` and ``.js`` are the guide's code
blocks copied byte for byte below a comment header; the first tests here prove
it, so "works with the guide's client" means exactly the printed client.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import timeout

from praison_push.server import GatewayThread

from .helpers import ANSWER

FIXTURES = Path(__file__).parent.parent / "fixtures"
GUIDE = Path(__file__).parents[3] / "shared" / "seeds" / "agent-framework-websocket-guide.md"
GUIDE_TYPES = ("connected", "subscribed", "response", "agent_thinking", "agent_done", "error")


def guide_blocks() -> dict[str, str]:
    """The guide's two ``AgentWebSocketClient`` code blocks, by language."""
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    return {lang: body for lang, body in blocks if "class AgentWebSocketClient" in body}


def fixture_code(name: str, comment: str) -> str:
    """A fixture's text without its leading comment header."""
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith(comment):
        lines.pop(0)
    return "".join(lines)


#: SHA-256 of the guide's code as copied, so the check holds without the seed documents.
PYTHON_SHA256 = "c91ecb6be5b5d471cce134cb0202e77265f3b7ffb68ca4c492fdb920f2c55e50"
JAVASCRIPT_SHA256 = "609faa382ec84e3ea46814baba4d7afbc3f8e1368c723ceda4d7198a34ae09bb"


def test_the_fixtures_are_the_guides_code_unchanged() -> None:
    python = fixture_code("agent_framework_client.py", "#")
    js = fixture_code("agent_framework_client.js", "//")
    assert hashlib.sha256(python.encode()).hexdigest() == PYTHON_SHA256
    assert hashlib.sha256(js.encode()).hexdigest() == JAVASCRIPT_SHA256
    if not GUIDE.exists():
        return  # a checkout without the seed documents: the digests above stand in
    blocks = guide_blocks()
    assert python == blocks["python"]
    # The class exactly; the guide's "Usage example" after it is the harness's job.
    assert blocks["javascript"].startswith(js)
    assert blocks["javascript"][len(js) :].startswith("\n// Usage example\n")


@pytest.fixture
def guide_client() -> Iterator[ModuleType]:
    """The guide's Python module, imported from its file; logging restored after.

    The module calls ``logging.basicConfig`` when imported, as printed.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    spec = importlib.util.spec_from_file_location(
        "agent_framework_client", FIXTURES / "agent_framework_client.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    root.handlers[:] = handlers
    root.setLevel(level)


class Recorder:
    """Async callbacks (the guide's client awaits them) feeding asyncio events."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.seen: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def __call__(self, data: dict[str, Any]) -> None:
        self.frames.append(data)
        self.seen[data["type"]].set()

    async def wait(self, kind: str, seconds: float = 5.0) -> dict[str, Any]:
        await asyncio.wait_for(self.seen[kind].wait(), timeout(seconds))
        self.seen[kind].clear()
        return [frame for frame in self.frames if frame["type"] == kind][-1]

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.frames]


async def test_the_guides_python_client(guide_client: ModuleType, gateway: GatewayThread) -> None:
    before = asyncio.all_tasks()
    client = guide_client.AgentWebSocketClient(gateway.url)
    recorder = Recorder()
    for kind in GUIDE_TYPES:
        client.on(kind, recorder)
    try:
        assert await client.connect() is True
        (listener,) = [
            task
            for task in asyncio.all_tasks() - before
            if task.get_coro().__qualname__ == "AgentWebSocketClient._listen"  # type: ignore[union-attr]
        ]
        connected = await recorder.wait("connected")
        assert connected["client_id"]

        assert await client.subscribe_to_agent("demo-weather") is True
        assert (await recorder.wait("subscribed"))["agent_id"] == "demo-weather"

        assert await client.send_chat_message("What is the weather in Paris?") is True
        await recorder.wait("agent_done")
        response = [frame for frame in recorder.frames if frame["type"] == "response"]
        assert response == [{"type": "response", "agent_id": "demo-weather", "message": ANSWER}]
        assert recorder.types() == [
            "connected",
            "subscribed",
            "agent_thinking",
            "response",
            "agent_done",
        ]

        assert await client.subscribe_to_agent("no_such_agent") is True
        error = await recorder.wait("error")
        assert error["message"] == "No agent with ID 'no_such_agent' exists"

        assert await client.send_ping() is True
    finally:
        # The guide's listener reconnects after any close; allow it no attempts.
        client.max_reconnect_attempts = 0
        await client.close()
    await asyncio.wait_for(listener, timeout(3))
    assert client.connected is False
