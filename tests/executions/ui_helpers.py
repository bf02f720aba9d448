"""Raw HTTP clients of the agent-UI streams (AG-UI, AI SDK): bodies, reads, cuts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from support import http_client, timeout

from .helpers import SSEEvent, SSEParser

PROTOCOLS = ("ag-ui", "ai-sdk")


def body_for(protocol: str, text: str, thread: str = "thread-1") -> dict[str, Any]:
    """The request body that asks ``text`` in ``protocol``'s own shape."""
    if protocol == "ag-ui":
        return {
            "threadId": thread,
            "runId": "client-run-1",
            "messages": [{"id": "m1", "role": "user", "content": text}],
            "tools": [],
            "context": [],
            "state": {},
            "forwardedProps": {},
        }
    return {
        "id": thread,
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}],
    }


def is_end(protocol: str, event: SSEEvent) -> bool:
    """The last event of a stream (before ``[DONE]`` for the AI SDK)."""
    if event.data == "[DONE]":
        return True
    kind = event.json()["type"]
    return (
        kind in ("RUN_FINISHED", "RUN_ERROR")
        if protocol == "ag-ui"
        else kind in ("finish", "error")
    )


@dataclass
class Read:
    """What one request read: the response head and the events (``[DONE]`` left out)."""

    response: httpx.Response
    events: list[SSEEvent] = field(default_factory=list)
    done: bool = False  # ``data: [DONE]`` was read

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [event.json() for event in self.events]

    @property
    def types(self) -> list[str]:
        return [payload["type"] for payload in self.payloads]

    @property
    def run_id(self) -> str:
        return self.response.headers["x-run-id"]


async def read_stream(
    url: str,
    *,
    method: str = "POST",
    body: Any = None,
    headers: dict[str, str] | None = None,
    stop_after: int | None = None,
    seconds: float = 10.0,
) -> Read:
    """Send the request and read its SSE events until the server ends the stream,
    or only ``stop_after`` events (then the client hangs up: a cut)."""
    parser = SSEParser()
    async with (
        http_client(timeout=timeout(seconds)) as http,
        http.stream(method, url, json=body, headers=headers) as response,
    ):
        read = Read(response)
        if response.status_code != 200:
            await response.aread()
            return read

        async def consume() -> None:
            async for chunk in response.aiter_text():
                for event in parser.feed(chunk):
                    if event.data == "[DONE]":
                        read.done = True
                        continue
                    read.events.append(event)
                    if stop_after is not None and len(read.events) >= stop_after:
                        return

        await asyncio.wait_for(consume(), timeout(seconds))
    return read
