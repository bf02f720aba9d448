"""docs/AGENT_UI.md's recipe for a UI on another origin: the gateway mounted behind
Starlette's CORSMiddleware answers the browser's preflight and streams the run."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from support import http_client, timeout

from praison_push.server import Gateway

from .helpers import LogCapture
from .test_mount import serve_app

ORIGIN = "http://localhost:3000"


async def test_a_page_on_another_origin_reaches_the_agent_ui_streams(logs: LogCapture) -> None:
    gateway = Gateway()
    app = Starlette(
        routes=[Mount("/", app=gateway.asgi_app())],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=[ORIGIN],
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["X-Run-Id", "X-Client-Id"],
            )
        ],
    )
    body = {"id": "c", "messages": [{"role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    with serve_app(app, logs, gateway.config.limits.max_message_size) as port:
        url = f"http://127.0.0.1:{port}/v1/agents/echo/ai-sdk"
        async with http_client(timeout=timeout(5)) as http:
            preflight = await http.options(
                url,
                headers={
                    "Origin": ORIGIN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == ORIGIN
            answer = await http.post(url, json=body, headers={"Origin": ORIGIN})
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "X-Run-Id" in answer.headers["access-control-expose-headers"]
        assert answer.headers["x-run-id"].startswith("exec_")
        assert answer.text.endswith(
            'data: {"type":"finish","finishReason":"stop"}\n\ndata: [DONE]\n\n'
        )
