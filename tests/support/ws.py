"""Raw ``websockets`` clients of a live gateway, with bounded waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .timing import timeout

__all__ = ["ask", "closed_with", "dial", "expect", "next_frame", "raw_client", "works"]


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
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout(seconds)))
        if frame.get("type") != "ping":
            return frame


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
    """Read until the gateway closes the connection; return the close code it sent.

    Fails the test when the connection is still open after ``seconds`` (scaled).
    """

    async def drain() -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass

    try:
        await asyncio.wait_for(drain(), timeout(seconds))
    except asyncio.TimeoutError:
        message = f"the gateway did not close the connection within {seconds}s"
        raise AssertionError(message) from None
    return ws.close_code


@asynccontextmanager
async def raw_client(url: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A connected, greeted native-dialect client."""
    async with dial(url, **kwargs) as ws:
        await expect(ws, "connected")
        yield ws


async def works(ws: ClientConnection) -> None:
    """Check a connection still answers requests."""
    assert await ask(ws, "ping", ref="alive?") == {"type": "pong", "ref": "alive?"}
