"""The "ceiling" servers for bench/fanout.py: the least a Python push server can do.

Why they exist: a deliveries/s number means little on its own; the same load run
against the cheapest correct Python implementations on the same core tells how
far the gateway is from what pure Python + ``websockets`` can reach on this machine.

It speaks only the subset of PROTOCOL.md §2 that the benchmark uses:

* on connect it sends a ``connected`` greeting (as the gateway does), so idle
  connections can tell they were accepted;
* ``channel.subscribe`` adds the connection to an in-memory set and replies
  ``channel.subscribed``;
* ``channel.publish`` builds one ``channel_message`` dict shaped like the
  gateway's, JSON-encodes it once, hands it to every subscriber (no backpressure)
  and replies ``channel.published`` with the delivered count;
* ``ping`` gets ``pong``; everything else is ignored.

Two ways to hand a publication to the subscribers (``--mode``):

``prebuilt`` (the true ceiling)
    the WebSocket frame is serialized once and the same bytes are written to
    every subscriber's transport: one ``transport.write`` per delivery, which
    is what the fastest Python servers do (server frames are unmasked and
    uncompressed, so they are the same for everyone);
``broadcast``
    ``websockets.broadcast``: the text is encoded once, but each connection
    frames it again and writes it through its own send path.

Keepalive pings and compression are off: a ceiling carries no optional cost.
Run it as ``python bench/_ceiling.py --mode prebuilt --port 0``; it prints
``ceiling listening on ws://127.0.0.1:PORT/ws`` once ready and stops on SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import signal
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

_SERVER_ID = "ceiling-" + uuid.uuid4().hex[:8]


class _Hub:
    """Channel name -> subscribed connections, plus the per-channel offset counter."""

    def __init__(self, mode: str) -> None:
        self.prebuilt = mode == "prebuilt"
        self.channels: defaultdict[str, set[ServerConnection]] = defaultdict(set)
        self.offsets: defaultdict[str, int] = defaultdict(int)
        self._client_ids = itertools.count(1)

    def next_client_id(self) -> str:
        return f"c{next(self._client_ids)}"

    def publish(self, channel: str, data: Any, source: str) -> int:
        """Encode one frame and broadcast it; returns the number of subscribers."""
        subscribers = self.channels.get(channel)
        if not subscribers:
            return 0
        self.offsets[channel] += 1
        frame = {
            "type": "channel_message",
            "channel": channel,
            "data": data,
            "event_id": uuid.uuid4().hex,
            "timestamp": time.time(),
            "source": source,
            "offset": self.offsets[channel],
        }
        payload = json.dumps(frame, separators=(",", ":")).encode()
        if self.prebuilt:
            wire = Frame(Opcode.TEXT, payload).serialize(mask=False)
            for ws in subscribers:
                ws.transport.write(wire)
        else:
            broadcast(subscribers, payload, text=True)
        return len(subscribers)


async def _handle(ws: ServerConnection, hub: _Hub) -> None:
    client_id = hub.next_client_id()
    joined: set[str] = set()
    await ws.send(
        json.dumps(
            {
                "type": "connected",
                "client_id": client_id,
                "server_id": _SERVER_ID,
                "protocol": "praison-push/1",
                "heartbeat_interval": 15,
                "resumed": False,
            }
        )
    )
    try:
        async for raw in ws:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            kind = msg.get("type")
            channel = msg.get("channel")
            if kind == "channel.publish" and isinstance(channel, str):
                delivered = hub.publish(channel, msg.get("data"), client_id)
                reply: dict[str, Any] = {
                    "type": "channel.published",
                    "channel": channel,
                    "delivered": delivered,
                    "offset": hub.offsets[channel],
                }
            elif kind == "channel.subscribe" and isinstance(channel, str):
                hub.channels[channel].add(ws)
                joined.add(channel)
                reply = {"type": "channel.subscribed", "channel": channel, "ok": True}
            elif kind == "ping":
                reply = {"type": "pong"}
            else:
                continue
            if "ref" in msg:
                reply["ref"] = msg["ref"]
            await ws.send(json.dumps(reply))
    except ConnectionClosed:
        pass
    finally:
        for channel in joined:
            hub.channels[channel].discard(ws)


async def _serve(host: str, port: int, mode: str) -> None:
    hub = _Hub(mode)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def handler(ws: ServerConnection) -> None:
        await _handle(ws, hub)

    async with serve(
        handler,
        host,
        port,
        compression=None,
        ping_interval=None,
        backlog=1024,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"ceiling listening on ws://{host}:{bound}/ws", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("prebuilt", "broadcast"), default="prebuilt")
    args = parser.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_serve(args.host, args.port, args.mode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
