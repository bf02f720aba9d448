"""Issue 13, finding 2, in a real browser: a page of another site cannot open the
gateway's WebSocket or start a run; the same page from an allowed origin can.

Headless system Chromium (tests/browser_support.py) loads one page from a second
local port under two names: ``http://evil.test:<port>`` (Chromium resolves
``evil.test`` to 127.0.0.1, so it is another site reaching a gateway on this
machine, as a web page would) and ``http://127.0.0.1:<port>`` (this machine: allowed
by default). The gateway is the CLI's default: no token.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlencode

import pytest
from browser_support import CHROMIUM_ARGS, chromium_path
from playwright.async_api import Browser, async_playwright
from support import timeout

from praison_push.server import GatewayThread

pytestmark = pytest.mark.browser

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>a page</title></head><body><script>
window.result = {};
const params = new URLSearchParams(window.location.search);
const ws = new WebSocket(params.get("ws"));
ws.onopen = () => { window.result.opened = true; };
ws.onmessage = (event) => { window.result.greeting = JSON.parse(event.data).type; ws.close(); };
ws.onclose = () => { window.result.closed = true; };
// A "simple" cross-origin request (no preflight), as an attacking page would send it.
fetch(params.get("run"), {
  method: "POST", mode: "no-cors",
  headers: {"Content-Type": "text/plain"},
  body: JSON.stringify({input: "from " + window.location.hostname}),
}).then(() => { window.result.posted = "answered"; },
        (error) => { window.result.posted = String(error); });
</script></body></html>
"""


class _PageHandler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, bytes]] = {"/": PAGE}

    def do_GET(self) -> None:
        body = self.routes.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(timeout(5))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.test 127.0.0.1"],
        )
        yield chromium
        await chromium.close()


async def visit(browser: Browser, page_url: str, gateway: GatewayThread) -> dict[str, Any]:
    """Load the page; what it managed once its WebSocket closed and its POST was answered."""
    page = await browser.new_page()
    try:
        query = {"ws": gateway.url, "run": f"{gateway.http_url}/v1/agents/witness/execute/stream"}
        await page.goto(f"{page_url}/?{urlencode(query)}")
        await page.wait_for_function(
            "window.result.closed && window.result.posted", timeout=timeout(10) * 1000
        )
        result: dict[str, Any] = await page.evaluate("window.result")
        return result
    finally:
        await page.close()


async def test_another_site_cannot_use_the_gateway_and_this_machine_can(
    browser: Browser, page_port: int, gateway: GatewayThread
) -> None:
    inputs: list[str] = []

    def witness(text: str) -> str:
        inputs.append(text)
        return "seen"

    assert gateway.gateway is not None
    hub = gateway.gateway.hub
    gateway.call(lambda: hub.agents.register("witness", witness))

    foreign = await visit(browser, f"http://evil.test:{page_port}", gateway)
    assert foreign.get("opened") is None and foreign.get("greeting") is None, foreign
    assert foreign["posted"] == "answered"  # refused with 403, which the page cannot read
    assert inputs == []  # no run was started

    allowed = await visit(browser, f"http://127.0.0.1:{page_port}", gateway)
    assert allowed["opened"] is True and allowed["greeting"] == "connected", allowed
    assert inputs == ["from 127.0.0.1"]
