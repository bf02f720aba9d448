"""The official agent-UI clients, unmodified, from npm, in Node against a live gateway.

``@ag-ui/client``'s ``HttpAgent.runAgent()`` and the ``ai`` package's
``DefaultChatTransport`` (``useChat``'s transport) with ``readUIMessageStream``.
The versions are pinned by ``tests/fixtures/agent_ui/package-lock.json``; they are
installed with ``npm ci`` once into a cache directory keyed by that lock file
(``PRAISON_PUSH_NPM_CACHE``, default ``~/.cache/praison-push``), and the two
small driver scripts beside it run there.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ag_ui.core import Event
from pydantic import TypeAdapter
from support import timeout

from praison_push.agents import (
    AgentContext,
    AgentEvent,
    Reasoning,
    ToolCall,
    ToolCallDelta,
    ToolResult,
)
from praison_push.server import GatewayThread

from .helpers import ANSWER, QUESTION, WEATHER_CALL, WEATHER_RESULT, register

pytestmark = pytest.mark.e2e

FIXTURE = Path(__file__).parent.parent / "fixtures" / "agent_ui"
AG_UI_EVENTS = TypeAdapter(Event)
#: Written into the cache directory once ``npm ci`` has finished there.
INSTALLED = ".praison-push-installed"


@pytest.fixture(scope="session")
def clients_dir() -> Path:
    """A directory with the pinned npm clients installed and the driver scripts.

    Every pytest-xdist worker asks for it; an exclusive lock on a file beside the
    directory lets one of them install while the others wait, and the ``installed``
    marker is written only after ``npm ci`` succeeded (``npm ci`` empties
    ``node_modules`` first, so two at once left a half-filled one behind for good).
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("Node.js 20+ and npm are needed for the agent-UI client tests")
    lock = (FIXTURE / "package-lock.json").read_bytes()
    root = Path(os.environ.get("PRAISON_PUSH_NPM_CACHE", Path.home() / ".cache" / "praison-push"))
    target = root / f"agent-ui-{hashlib.sha256(lock).hexdigest()[:16]}"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{target.name}.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes
        if not (target / INSTALLED).exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            for name in ("package.json", "package-lock.json"):
                shutil.copy(FIXTURE / name, target / name)
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=target,
                check=True,
                timeout=timeout(300),
                capture_output=True,
            )
            (target / INSTALLED).touch()
        for script in FIXTURE.glob("*.mjs"):
            shutil.copy(script, target / script.name)
    return target


def run_client(clients_dir: Path, script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(clients_dir / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_ag_ui_http_agent_runs_demo_weather(gateway: GatewayThread, clients_dir: Path) -> None:
    url = f"{gateway.http_url}/v1/agents/demo-weather/ag-ui"
    out = run_client(clients_dir, "ag_ui_client.mjs", url, QUESTION, "thread-7")
    events = out["events"]
    for event in events:
        AG_UI_EVENTS.validate_python(event)  # what the client received is valid AG-UI
    types = [event["type"] for event in events]
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    deltas = [e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert len(deltas) > 1 and "".join(deltas) == ANSWER  # streamed, not one block
    (start,) = (e for e in events if e["type"] == "TOOL_CALL_START")
    assert start["toolCallName"] == WEATHER_CALL["name"]
    args = "".join(e["delta"] for e in events if e["type"] == "TOOL_CALL_ARGS")
    assert json.loads(args) == WEATHER_CALL["arguments"]
    (result,) = (e for e in events if e["type"] == "TOOL_CALL_RESULT")
    assert json.loads(result["content"]) == WEATHER_RESULT
    # The client built its conversation from our events.
    roles = [(m["role"], m.get("content")) for m in out["messages"]]
    assert roles[-1] == ("assistant", ANSWER) and ("user", QUESTION) in roles
    assert out["result"]["result"] == ANSWER


def test_ai_sdk_transport_and_read_ui_message_stream_build_the_message(
    gateway: GatewayThread, clients_dir: Path
) -> None:
    url = f"{gateway.http_url}/v1/agents/demo-weather/ai-sdk"
    out = run_client(clients_dir, "ai_sdk_client.mjs", url, QUESTION, "chat-7")
    assert out["errors"] == []
    message = out["message"]
    assert message["role"] == "assistant" and out["snapshots"] > 3
    (tool,) = (part for part in message["parts"] if part["type"] == "tool-get_weather")
    assert tool["state"] == "output-available"
    assert (tool["input"], tool["output"]) == (WEATHER_CALL["arguments"], WEATHER_RESULT)
    (text,) = (part for part in message["parts"] if part["type"] == "text")
    assert (text["text"], text["state"]) == (ANSWER, "done")


async def guarded(text: str, ctx: AgentContext) -> AsyncIterator[AgentEvent]:
    call = ToolCall("delete_file", {"path": text}, id="call_del")
    decision = await ctx.request_approval(call)
    if not decision.approved:
        yield "Kept it."
        return
    yield call
    yield ToolResult(call, {"deleted": text})
    yield f"Deleted {text}."


def test_ag_ui_http_agent_resumes_an_approval_interrupt(
    gateway: GatewayThread, clients_dir: Path
) -> None:
    register(gateway, "guarded", guarded)
    url = f"{gateway.http_url}/v1/agents/guarded/ag-ui?client_id=node-tab"
    out = run_client(clients_dir, "ag_ui_client.mjs", url, "/tmp/z", "thread-8", "approve")
    (interrupt,) = out["interrupts"]
    assert interrupt["toolCallId"] == "call_del" and interrupt["reason"] == "tool_approval"
    types = [event["type"] for event in out["events"]]
    assert types.count("RUN_STARTED") == 2 and types[-1] == "RUN_FINISHED"
    finished = [e for e in out["events"] if e["type"] == "RUN_FINISHED"]
    assert [f["outcome"]["type"] for f in finished] == ["interrupt", "success"]
    assert out["result"]["result"] == "Deleted /tmp/z."


@pytest.mark.parametrize("answer", ["approve", "deny"])
def test_the_ai_sdk_chat_answers_an_approval_request_and_resubmits(
    gateway: GatewayThread, clients_dir: Path, answer: str
) -> None:
    # AbstractChat is useChat's logic: addToolApprovalResponse, then sendAutomaticallyWhen.
    register(gateway, "guarded", guarded)
    url = f"{gateway.http_url}/v1/agents/guarded/ai-sdk?client_id=node-chat"
    out = run_client(clients_dir, "ai_sdk_chat.mjs", url, "/tmp/w", "chat-8", answer)
    assert out["errors"] == [] and out["status"] == "ready"
    (requested,) = out["requested"]
    assert requested["type"] == "tool-delete_file" and requested["toolCallId"] == "call_del"
    user, assistant = out["messages"]  # the answer continued the same assistant message
    assert (user["role"], assistant["role"]) == ("user", "assistant")
    (tool,) = (part for part in assistant["parts"] if part["type"] == "tool-delete_file")
    text = "".join(part["text"] for part in assistant["parts"] if part["type"] == "text")
    if answer == "approve":
        assert tool["state"] == "output-available" and tool["output"] == {"deleted": "/tmp/w"}
        assert text == "Deleted /tmp/w."
    else:
        assert tool["state"] == "output-denied" and text == "Kept it."


async def thinker(text: str) -> AsyncIterator[AgentEvent]:
    """Reasons, streams a tool call's arguments, calls it, answers: every kind of text."""
    for piece in ("The user wants ", "the time."):
        yield Reasoning(piece)
        await asyncio.sleep(0.01)  # apart from the next piece: separate events
    for piece in ('{"zone":', '"UTC"}'):
        yield ToolCallDelta("call_t", piece, name="clock")
        await asyncio.sleep(0.01)
    call = ToolCall("clock", {"zone": "UTC"}, id="call_t")
    yield call
    yield ToolResult(call, {"time": "12:00"})
    yield "It is "
    await asyncio.sleep(0.01)
    yield "12:00."


def test_the_official_clients_take_reasoning_and_streamed_tool_arguments(
    gateway: GatewayThread, clients_dir: Path
) -> None:
    register(gateway, "thinker", thinker)
    base = f"{gateway.http_url}/v1/agents/thinker"
    agui = run_client(clients_dir, "ag_ui_client.mjs", f"{base}/ag-ui", "time?", "thread-r")
    for event in agui["events"]:
        AG_UI_EVENTS.validate_python(event)
    types = [event["type"] for event in agui["events"]]
    assert types[:3] == ["RUN_STARTED", "REASONING_START", "REASONING_MESSAGE_START"]
    reasoning = [e["delta"] for e in agui["events"] if e["type"] == "REASONING_MESSAGE_CONTENT"]
    assert "".join(reasoning) == "The user wants the time."
    args = [e["delta"] for e in agui["events"] if e["type"] == "TOOL_CALL_ARGS"]
    assert len(args) == 2 and "".join(args) == '{"zone":"UTC"}'  # streamed, not repeated
    roles = [message["role"] for message in agui["messages"]]
    assert roles == ["user", "reasoning", "assistant", "tool", "assistant"]
    assert agui["messages"][-1]["content"] == "It is 12:00."

    sdk = run_client(clients_dir, "ai_sdk_client.mjs", f"{base}/ai-sdk", "time?", "chat-r")
    assert sdk["errors"] == []
    parts = sdk["message"]["parts"]
    kinds = [part["type"] for part in parts if part["type"] != "step-start"]
    assert kinds == ["reasoning", "tool-clock", "text"]
    assert parts[1]["text"] == "The user wants the time." and parts[1]["state"] == "done"
    (tool,) = (part for part in parts if part["type"] == "tool-clock")
    assert (tool["state"], tool["input"], tool["output"]) == (
        "output-available",
        {"zone": "UTC"},
        {"time": "12:00"},
    )
