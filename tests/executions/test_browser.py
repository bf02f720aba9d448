"""The agent framework guide's JavaScript client, unchanged, in headless Chromium.

The system Chromium (``apt-get install chromium``; .ci/run installs it) is
driven by Playwright for Python; no browser is ever downloaded. A tiny local
page loads the guide's client script as is, plus a harness that records every
message it hands to callbacks in ``window.events``. Not skipped when Chromium
is missing: CI installs it, so a missing browser is a failure.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import pytest
from browser_support import launch_chromium
from playwright.async_api import Browser, async_playwright
from support import timeout

from praison_push.server import GatewayThread

from .helpers import ANSWER, WEATHER_RESULT

pytestmark = pytest.mark.browser

CLIENT_JS = Path(__file__).parent.parent / "fixtures" / "agent_framework_client.js"

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>agent framework client</title></head>
<body>
<script src="/agent_framework_client.js"></script>
<script src="/harness.js"></script>
</body></html>
"""

# Plays the part of the guide's "Usage example": connect, subscribe, chat, record.
HARNESS = b"""
window.events = [];
const params = new URLSearchParams(window.location.search);
const agent = params.get("agent");
const harnessClient = new AgentWebSocketClient(params.get("ws"));
window.harnessClient = harnessClient;
for (const type of ["connected", "subscribed", "agent_thinking", "stream_chunk",
                    "tool_update", "response", "agent_done", "error", "ping"]) {
    harnessClient.on(type, (data) => window.events.push(data));
}
harnessClient
    .on("connected", () => harnessClient.subscribeToAgent(agent))
    .on("subscribed", (data) => {
        if (data.agent_id === agent) {
            harnessClient.sendChatMessage(agent, params.get("message"));
        }
    });
"""


class _PageHandler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/": ("text/html; charset=utf-8", PAGE),
        "/harness.js": ("text/javascript", HARNESS),
        "/agent_framework_client.js": ("text/javascript", CLIENT_JS.read_bytes()),
    }

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404)
            return
        content_type, body = route
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


@pytest.fixture
def page_server() -> Iterator[str]:
    """The harness page's base URL, served on 127.0.0.1 and a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout(5))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        yield chromium
        await chromium.close()


async def test_the_guides_javascript_client_in_chromium(
    browser: Browser, page_server: str, gateway: GatewayThread
) -> None:
    page = await browser.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    query = {"ws": gateway.url, "agent": "demo-weather", "message": "What is the weather in Paris?"}
    await page.goto(f"{page_server}/?{urlencode(query)}")

    wait_ms = timeout(10) * 1000
    await page.wait_for_function(
        "window.events.some((e) => e.type === 'agent_done')", timeout=wait_ms
    )
    events: list[dict[str, Any]] = await page.evaluate("window.events")
    kinds = [event["type"] for event in events]
    assert kinds[:3] == ["connected", "subscribed", "agent_thinking"], kinds
    assert kinds[-2:] == ["response", "agent_done"], kinds
    assert events[0]["client_id"]
    assert events[1]["agent_id"] == "demo-weather"
    response = events[-2]
    assert response == {"type": "response", "agent_id": "demo-weather", "message": ANSWER}
    chunks = [event for event in events if event["type"] == "stream_chunk"]
    assert "".join(chunk["chunk"] for chunk in chunks) == ANSWER
    assert chunks[-1]["done"] is True
    tools = [event for event in events if event["type"] == "tool_update"]
    assert [tool["status"] for tool in tools] == ["calling", "completed"]
    assert tools[1]["result"] == WEATHER_RESULT

    # An unknown agent: the client's error callback gets the guide's message.
    await page.evaluate("window.harnessClient.subscribeToAgent('unknown_agent')")
    await page.wait_for_function("window.events.some((e) => e.type === 'error')", timeout=wait_ms)
    errors = await page.evaluate("window.events.filter((e) => e.type === 'error')")
    assert errors[0]["message"] == "No agent with ID 'unknown_agent' exists"

    await page.evaluate(
        "window.harnessClient.maxReconnectAttempts = 0; window.harnessClient.close()"
    )
    assert page_errors == []
    await page.close()
