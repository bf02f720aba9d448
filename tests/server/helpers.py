"""Small domain helpers for talking to a live gateway with a raw websockets client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from support import timeout
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


def dial(url: str, **kwargs: Any) -> Any:
    """``websockets`` connect with bounded open/close waits (use with ``async with``).

    The receive queue is unbounded by default: a test client that leaves frames
    unread (presence events, say) must not stop reading from the socket, or its
    closing handshake would stall until ``close_timeout``.
    """
    kwargs.setdefault("max_queue", None)
    kwargs.setdefault("open_timeout", timeout(5))
    kwargs.setdefault("close_timeout", timeout(2))
    return connect(url, **kwargs)


async def next_frame(ws: ClientConnection, seconds: float = 3.0) -> dict[str, Any]:
    """The next frame from the gateway, skipping its keepalive ``ping``s."""
    while True:
        text = await _recv(ws, seconds)
        frame: dict[str, Any] = json.loads(text)
        if frame.get("type") != "ping":
            return frame


async def _recv(ws: ClientConnection, seconds: float) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), timeout(seconds))


async def messages(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` ``channel_message`` frames, skipping presence and other events."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = await next_frame(ws)
        if frame["type"] == "channel_message":
            found.append(frame)
    return found


async def expect(ws: ClientConnection, kind: str, **fields: Any) -> dict[str, Any]:
    """Read the next frame and check it is a ``kind`` frame with these field values."""
    frame = await next_frame(ws)
    assert frame.get("type") == kind, frame
    for key, value in fields.items():
        assert frame.get(key) == value, (key, frame)
    return frame


async def ask(ws: ClientConnection, kind: str, **fields: Any) -> dict[str, Any]:
    """Send a ``kind`` frame and return the next frame (its reply)."""
    await ws.send(json.dumps({"type": kind, **fields}))
    return await next_frame(ws)


async def closed_with(ws: ClientConnection, seconds: float = 3.0) -> int | None:
    """Read until the gateway closes the connection; return the close code it sent."""
    try:
        while True:
            await _recv(ws, seconds)
    except ConnectionClosed:
        pass
    return ws.close_code


@asynccontextmanager
async def client(url: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A connected, greeted native-dialect client."""
    async with dial(url, **kwargs) as ws:
        await expect(ws, "connected")
        yield ws


async def works(ws: ClientConnection) -> None:
    """Check a connection still answers requests."""
    assert await ask(ws, "ping", ref="alive?") == {"type": "pong", "ref": "alive?"}
