"""Load generator for bench/fanout.py's ``join`` scenario: a crowd joins one channel, then drops.

Why it exists: the cost of a crowd joining one channel is the frames the crowd
receives while joining (each member's presence announced to every other was
N²/2 frames: 5,000 clients never finished connecting), and a crowd that drops at
once must leave nothing behind on the server (no write loop to closed sockets).

Control protocol with the orchestrator (JSON lines on stdout, commands on stdin):

1. opens one warm-up connection, prints ``{"event": "warm"}``, waits for ``go``;
2. opens ``--clients`` connections, ``--connect-concurrency`` at a time; each
   subscribes to channel ``hall`` as soon as it is open. Once every one has its
   ``channel.subscribed`` reply it prints ``{"event": "joined", "join_s", "frames",
   "by_type", ...}`` — ``frames`` counts every text frame the crowd received so far;
3. keeps counting for ``--settle`` seconds (presence batches still on their way),
   prints ``{"event": "settled", "frames", "by_type"}`` and waits for ``drop``;
4. resets every connection at once (TCP RST, as a crashed process would), prints
   ``{"event": "dropped"}`` and exits.

Any failure is reported as ``{"event": "error", "message": ...}`` with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import socket
import struct
import sys
import time

from _loadgen_common import (
    PONG,
    Control,
    answer_close,
    bounded_gather,
    emit,
    open_ready,
    run,
)
from picows import WSFrame, WSListener, WSMsgType, WSTransport

_SUBSCRIBE = b'{"type":"channel.subscribe","channel":"hall"}'
_TYPE = re.compile(rb'"type"\s*:\s*"([^"]{1,40})"')


class _Crowd:
    """What every member of the crowd counts, together."""

    def __init__(self) -> None:
        self.frames = 0
        self.by_type: collections.Counter[str] = collections.Counter()
        self.disconnects: collections.Counter[str] = collections.Counter()
        self.dropping = False


class _Member(WSListener):
    """One client: subscribes on connect, counts what it receives, answers pings."""

    def __init__(self, crowd: _Crowd) -> None:
        super().__init__()
        self.crowd = crowd
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, _SUBSCRIBE)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if answer_close(transport, frame):
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        crowd = self.crowd
        crowd.frames += 1
        match = _TYPE.search(frame.get_payload_as_bytes(), 0, 64)
        kind = match[1].decode() if match else "?"
        crowd.by_type[kind] += 1
        if kind == "channel.subscribed" and not self.subscribed.done():
            self.subscribed.set_result(None)
        elif kind == "ping":
            transport.send(WSMsgType.TEXT, PONG)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.crowd.dropping:
            self.crowd.disconnects["unexpected"] += 1
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError("closed before subscribed"))


def _reset(transport: WSTransport) -> None:
    """Drop a connection with a TCP reset: no close frame, no FIN."""
    raw = transport.underlying_transport
    sock = raw.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.abort()


async def _run_join(args: argparse.Namespace, control: Control) -> None:
    crowd = _Crowd()
    transports: list[WSTransport] = []

    async def open_one() -> WSTransport:
        return await open_ready(
            lambda: _Member(crowd), lambda member: member.subscribed, args, transports
        )

    await open_one()
    emit("warm")
    await control.expect("go", args.timeout * 10)
    crowd.frames = 0
    crowd.by_type.clear()
    t0 = time.monotonic()
    outcomes = await bounded_gather([open_one] * args.clients, args.connect_concurrency)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    emit(
        "joined",
        clients=args.clients,
        subscribed=len(outcomes) - len(failures),
        failures=len(failures),
        first_failure=repr(failures[0]) if failures else None,
        join_s=round(time.monotonic() - t0, 3),
        frames=crowd.frames,
        by_type=dict(crowd.by_type),
    )
    await asyncio.sleep(args.settle)  # presence batches still on their way are counted
    emit(
        "settled",
        frames=crowd.frames,
        by_type=dict(crowd.by_type),
        disconnects=dict(crowd.disconnects),
    )
    await control.expect("drop", args.timeout * 30)
    crowd.dropping = True
    for transport in transports:
        _reset(transport)
    emit("dropped", connections=len(transports))


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring for the control protocol."""
    parser = argparse.ArgumentParser(description="bench/fanout.py join-scenario load generator")
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--connect-concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-connection/subscribe")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds counting after joining")
    args = parser.parse_args(argv)
    return run(args, _run_join)


if __name__ == "__main__":
    sys.exit(main())
