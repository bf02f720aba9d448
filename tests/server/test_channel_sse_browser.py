"""A real browser's ``EventSource`` on ``/api/push/sse``, resuming with ``Last-Event-ID``.

Headless system Chromium (Playwright, never a downloaded browser) loads a page
served next to the gateway (same origin), receives channel messages, and when
the gateway drops the stream it reconnects by itself, sending ``Last-Event-ID``:
what was published while it was away arrives, with no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from browser_support import launch_chromium
from playwright.async_api import async_playwright
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from support import http_client, timeout, wait_until

from praison_push.config import GatewayConfig, PushConfig
from praison_push.protocol import CloseCode
from praison_push.server import Gateway, bind_socket

from .helpers import LogCapture

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sse</title></head><body><script>
window.events = []; window.opens = 0; window.errors = 0;
const source = new EventSource("/api/push/sse?channels=room");
source.addEventListener("open", () => { window.opens += 1; });
source.addEventListener("error", () => { window.errors += 1; });
source.addEventListener("channel_message", (event) => {
  window.events.push({id: event.lastEventId, data: JSON.parse(event.data).data});
});
</script></body></html>
"""


@pytest.fixture
def served(logs: LogCapture) -> Iterator[tuple[int, Gateway, asyncio.AbstractEventLoop]]:
    gateway = Gateway(GatewayConfig(push=PushConfig(enabled=True)))

    async def page(request: object) -> HTMLResponse:
        return HTMLResponse(PAGE)

    app = Starlette(routes=[Route("/page", page), Mount("/", app=gateway.asgi_app())])
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(server.serve(sockets=[sock])), daemon=True
    )
    thread.start()
    logs.attach()
    try:
        yield sock.getsockname()[1], gateway, loop
    finally:
        asyncio.run_coroutine_threadsafe(gateway.hub.close(), loop).result(timeout(10))
        server.should_exit = True
        thread.join(timeout(10))
        sock.close()
        loop.close()


async def test_event_source_resumes_with_last_event_id(
    served: tuple[int, Gateway, asyncio.AbstractEventLoop],
) -> None:
    port, gateway, loop = served
    base = f"http://127.0.0.1:{port}"
    hub = gateway.hub
    async with http_client(base_url=base, timeout=timeout(10)) as http:
        registered = await http.post("/api/push/poll/register", json={"client_id": "pub"})
        token = registered.json()["poll_token"]

        async def publish(start: int, stop: int) -> None:
            for n in range(start, stop):
                answer = await http.post(
                    "/api/push/poll/publish",
                    json={"poll_token": token, "channel": "room", "data": n},
                )
                assert answer.status_code == 200

        async with async_playwright() as playwright:
            browser = await launch_chromium(playwright)
            try:
                page = await browser.new_page()
                await page.goto(f"{base}/page")

                async def value(expression: str) -> Any:
                    return await page.evaluate(expression)

                async def until(expression: str) -> None:
                    deadline = asyncio.get_running_loop().time() + timeout(15)
                    while not await value(expression):
                        assert asyncio.get_running_loop().time() < deadline, expression
                        await asyncio.sleep(0.05)

                await until("window.opens === 1")
                await wait_until(
                    lambda: any(
                        "room" in c.subscriptions
                        for c in list(hub.connections.values())
                        if c.client_id != "pub"
                    )
                )
                await publish(0, 5)
                await until("window.events.length === 5")
                # The gateway drops the stream (as a restart or a proxy would).
                streams = [c for c in list(hub.connections.values()) if "room" in c.subscriptions]
                assert len(streams) == 1
                loop.call_soon_threadsafe(streams[0].close, CloseCode.GOING_AWAY, "test drop")
                await until("window.errors >= 1")
                await publish(5, 10)  # while the browser waits its retry: 3000 ms
                await until("window.opens === 2")
                await publish(10, 15)
                await until("window.events.length >= 15")
                events = await value("window.events")
                assert [e["data"] for e in events] == list(range(15))
                assert all(e["id"].startswith("room:") for e in events)
                assert len({e["id"] for e in events}) == 15
            finally:
                await browser.close()
