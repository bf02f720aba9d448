"""The two ways frames leave ``/ws``: pre-framed (one frame per publication, written
straight to each transport) and, without the server's extension, ASGI ``send``.

Both are served by real uvicorn: the gateway's own (``PushWebSocketProtocol``,
which offers ``praison.prebuilt_send``) and uvicorn's stock websockets-sansio
protocol, which does not. Each behaviour is checked on both.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import (
    ask,
    closed_with,
    dial,
    expect,
    raw_client,
    timeout,
    wait_until,
    works,
)
from websockets.asyncio.client import ClientConnection

from praison_push.config import GatewayConfig, LimitsConfig, PresenceConfig, PushConfig
from praison_push.hub import Connection, Hub
from praison_push.protocol import CloseCode
from praison_push.server import GatewayThread, wire
from praison_push.server.uvicorn_ws import (
    MAX_QUEUED_BYTES,
    MAX_QUEUED_FRAMES,
    PushWebSocketProtocol,
)
from praison_push.server.wire import WireWriter

from .helpers import LogCapture, Serve

#: uvicorn ``ws`` options: the gateway's default (pre-framed) and a server without the extension.
PATHS = {"pre-framed": {}, "send": {"ws": "websockets-sansio"}}

#: What asyncio logs for each write to a transport whose connection is lost.
WRITE_AFTER_LOSS = "socket.send() raised exception"

Start = Callable[..., GatewayThread]


@pytest.fixture(params=list(PATHS))
def path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def start(path: str, logs: LogCapture) -> Iterator[Start]:
    """Start gateways served the ``path`` way; all are stopped afterwards."""
    started: list[GatewayThread] = []

    def make(config: GatewayConfig | None = None) -> GatewayThread:
        base = (config or GatewayConfig()).model_copy(update={"port": 0})
        thread = GatewayThread(base, **PATHS[path]).start()
        started.append(thread)
        logs.attach()
        return thread

    yield make
    for thread in started:
        thread.stop()


def hub_of(gateway: GatewayThread) -> Hub:
    assert gateway.gateway is not None
    return gateway.gateway.hub


def only_connection(gateway: GatewayThread, client_id: str) -> Connection:
    (connection,) = [c for c in hub_of(gateway).connections.values() if c.client_id == client_id]
    return connection


async def test_each_path_is_the_one_in_use(start: Start, path: str) -> None:
    gateway = start()
    async with raw_client(gateway.url + "?client_id=me") as ws:
        await works(ws)
        sink = only_connection(gateway, "me").sink
        assert isinstance(sink, WireWriter) if path == "pre-framed" else sink is None
        # The gateway's protocol lets go of the handshake once it is done (~2 KB).
        assert gateway._server is not None
        (protocol,) = gateway._server.server_state.connections
        kept = {"request", "response"} & set(vars(protocol))
        assert kept == (set() if path == "pre-framed" else {"request", "response"})


async def test_a_publication_is_framed_once_per_dialect(
    start: Start, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    framed: list[bytes] = []
    build = wire.Frame

    def counting(opcode: Any, data: bytes) -> Any:
        framed.append(data)
        return build(opcode, data)

    monkeypatch.setattr(wire, "Frame", counting)
    quiet = PresenceConfig(broadcast_changes=False)  # only the publication goes out
    gateway = start(GatewayConfig(push=PushConfig(enabled=True, presence=quiet)))
    natives = [dial(gateway.url) for _ in range(6)]
    envelopes = [dial(gateway.url + "?protocol=envelope") for _ in range(3)]
    clients: list[ClientConnection] = [await c.__aenter__() for c in natives + envelopes]
    try:
        for ws in clients[:6]:
            await expect(ws, "connected")
            await ask(ws, "channel.subscribe", channel="news")
        for ws in clients[6:]:
            await ws.send(json.dumps({"type": "auth", "payload": {"token": ""}}))
            await expect(ws, "auth_success")
            await ws.send(json.dumps({"type": "subscribe", "payload": {"channel": "news"}}))
            await expect(ws, "subscribed")
        async with raw_client(gateway.url) as publisher:
            receipt = await ask(publisher, "channel.publish", channel="news", data={"n": 1})
            assert receipt["delivered"] == 9
            for ws in clients[:6]:
                await expect(ws, "channel_message", data={"n": 1})
            for ws in clients[6:]:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout(3)))
                assert frame["type"] == "channel_message", frame
        event_id = receipt["event_id"].encode()
        builds = [data for data in framed if event_id in data and b"channel_message" in data]
        # One frame per dialect on the pre-framed path; none built by us on the send path.
        assert len(builds) == (2 if path == "pre-framed" else 0)
    finally:
        for c in natives + envelopes:
            await c.__aexit__(None, None, None)


def pad(n: int) -> str:
    return f"{n:06d}" + "x" * 20_000  # frames that fill socket buffers and get split


async def test_order_holds_when_replies_and_publications_interleave(start: Start) -> None:
    """A torn frame breaks the client's parser (close 1002); a reordered one breaks the
    sequence checks. Frames of 20 KB fill socket buffers, so they are written in
    pieces, while replies to the reader's own requests are queued between publications."""
    gateway = start(GatewayConfig(limits=LimitsConfig(send_queue_max_frames=100_000)))
    rounds = 60
    async with (
        dial(gateway.url, max_queue=None, compression=None) as me,
        raw_client(gateway.url) as publisher,
    ):
        await expect(me, "connected")
        await ask(me, "channel.subscribe", channel="mix")

        async def flood() -> None:
            for n in range(rounds):
                frame = {"type": "channel.publish", "channel": "mix", "data": {"p": n, "x": pad(n)}}
                await publisher.send(json.dumps(frame))
            for _ in range(rounds):
                await expect(publisher, "channel.published")

        flooding = asyncio.ensure_future(flood())
        for n in range(rounds):
            own = {"a": n, "x": pad(n)}
            await me.send(
                json.dumps(
                    {"type": "channel.publish", "channel": "mix", "data": own, "echo": True}
                    | {"ref": f"p{n}"}
                )
            )
            await me.send(json.dumps({"type": "ping", "ref": f"q{n}"}))
        await asyncio.wait_for(flooding, timeout(10))
        seen: list[tuple[str, int]] = []
        while len(seen) < 4 * rounds:
            frame = json.loads(await asyncio.wait_for(me.recv(), timeout(5)))
            kind = frame["type"]
            if kind == "channel_message":
                data = frame["data"]
                key = "p" if "p" in data else "a"
                assert data["x"] == pad(data[key]), "a frame's payload was corrupted"
                seen.append(("msg-" + key, data[key]))
            elif kind == "channel.published":
                seen.append(("receipt", int(frame["ref"][1:])))
            elif kind == "pong":
                seen.append(("pong", int(frame["ref"][1:])))
        for kind in ("msg-p", "msg-a", "receipt", "pong"):
            assert [n for k, n in seen if k == kind] == list(range(rounds)), kind
        # Each own publication's copy comes before its receipt, which comes before the pong.
        for n in range(rounds):
            order = [seen.index(("msg-a", n)), seen.index(("receipt", n)), seen.index(("pong", n))]
            assert order == sorted(order), (n, order)
        await works(me)


async def test_a_closing_transport_is_never_written_to(start: Start, logs: LogCapture) -> None:
    """Frames queued in the loop turn in which the peer's end is read are dropped.

    This is what thousands of clients dropping at once did: their presence
    leaves were queued to connections whose transports had just closed, and each
    write logged asyncio's "socket.send() raised exception." (600,000 lines a minute).
    """
    gateway = start()
    assert gateway.gateway is not None and gateway._server is not None
    server = gateway._server
    async with raw_client(gateway.url + "?client_id=gone") as ws:
        await ask(ws, "channel.subscribe", channel="c")
        connection = only_connection(gateway, "gone")

        def frames_then_end() -> None:
            (protocol,) = server.server_state.connections
            for n in range(20):
                connection.send_text(json.dumps({"type": "channel_message", "n": n}))
            protocol.transport.close()  # as when its EOF is read later in the same turn

        gateway.call(frames_then_end)
        await wait_until(lambda: not hub_of(gateway).connections, 5)
        assert await closed_with(ws) in (None, 1000, 1005, 1006)
    assert WRITE_AFTER_LOSS not in logs.text()


def subscribers(gateway: GatewayThread, name: str) -> int:
    channel = hub_of(gateway).channels.get(name)
    return 0 if channel is None else len(channel.subscribers)


def rst_close(ws: ClientConnection) -> None:
    """Drop the TCP connection with a reset, as a crashed load generator does."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def test_a_crowd_that_drops_at_once_leaves_no_write_behind(
    start: Start, logs: LogCapture
) -> None:
    # The worst case for the writers: every leave announced to everyone at once (as
    # before presence was batched), so the crowd's leaves meet transports closing.
    # With the writes before the fix, this logged WRITE_AFTER_LOSS hundreds of times.
    everyone = PresenceConfig(broadcast_interval=0, max_broadcast_members=100_000)
    config = GatewayConfig(push=PushConfig(enabled=True, presence=everyone))
    gateway = start(config)
    crowd = [dial(gateway.url) for _ in range(150)]
    clients = [await c.__aenter__() for c in crowd]
    try:
        for ws in clients:
            await expect(ws, "connected")
            await ws.send(json.dumps({"type": "channel.subscribe", "channel": "hall"}))
        await wait_until(lambda: subscribers(gateway, "hall") == 150, 10)
        async with raw_client(gateway.url) as publisher:
            for n in range(5):
                await ask(publisher, "channel.publish", channel="hall", data={"n": n})
            for ws in clients:
                rst_close(ws)
            for n in range(5):
                await ask(publisher, "channel.publish", channel="hall", data={"n": n})
            await wait_until(lambda: len(hub_of(gateway).connections) == 1, 10)
            await works(publisher)
    finally:
        for c in crowd:
            await c.__aexit__(None, None, None)
    assert WRITE_AFTER_LOSS not in logs.text()


async def test_a_client_that_stops_reading_is_cut_1013_and_aborted(start: Start) -> None:
    # Short timers (every one a real setting): the hub's upkeep ticks every quarter
    # idle_timeout and aborts a close still stuck after min(ABORT_GRACE, idle_timeout).
    idle_timeout = timeout(0.5)
    gateway = start(
        GatewayConfig(
            limits=LimitsConfig(idle_timeout=idle_timeout, send_queue_max_bytes=300_000),
        )
    )
    hub = hub_of(gateway)
    async with (
        dial(gateway.url + "?client_id=stuck", max_queue=1, compression=None) as stuck,
        raw_client(gateway.url) as publisher,
    ):
        await expect(stuck, "connected")
        await ask(stuck, "channel.subscribe", channel="flood")
        connection = only_connection(gateway, "stuck")

        async def keep_alive() -> None:
            # Liveness (a pong has no reply) at a period well inside idle_timeout, not a
            # wait: the stuck client's until the hub closes it, the publisher's throughout.
            while True:
                if not connection.closing:
                    await stuck.send(json.dumps({"type": "pong"}))
                await publisher.send(json.dumps({"type": "pong"}))
                await asyncio.sleep(idle_timeout / 5)

        pinger = asyncio.ensure_future(keep_alive())
        try:
            stuck.transport.pause_reading()  # the peer stops reading: TCP backs up
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout(15)
            while not connection.closing:
                assert loop.time() < deadline, "never overflowed"
                await ask(publisher, "channel.publish", channel="flood", data="y" * 30_000)
            assert connection.close_code == CloseCode.SLOW_CONSUMER
            # The close cannot be written to a peer that does not read: aborted.
            await wait_until(lambda: connection not in hub.connections.values(), 8)
        finally:
            pinger.cancel()
        assert hub.node.limiter.total == 1
        await works(publisher)
        stuck.transport.resume_reading()  # reading again, the peer finds itself cut
        assert await closed_with(stuck) == 1006  # abnormal closure: no close frame came


# --- reading: paused only when the app falls behind (uvicorn_ws.PushWebSocketProtocol) -------


class _PauseCounter:
    """Counts ``pause_reading`` on every socket transport (the gateway's thread included)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from asyncio import selector_events

        self.calls = 0
        cls = selector_events._SelectorSocketTransport
        original = cls.pause_reading

        def pause_reading(transport: Any) -> None:
            self.calls += 1
            original(transport)

        monkeypatch.setattr(cls, "pause_reading", pause_reading)


async def test_frames_arriving_one_by_one_are_read_without_pausing_for_each(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As acknowledgements arrive: one small frame per read, the hub keeping up."""
    gateway = serve()
    async with raw_client(gateway.url) as ws:
        pauses = _PauseCounter(monkeypatch)
        for n in range(100):
            assert await ask(ws, "ping", ref=n) == {"type": "pong", "ref": n}
    # uvicorn pauses reading after every message (100 here); the gateway only past its bound.
    assert pauses.calls <= 5, pauses.calls


class _Transport:
    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0

    def pause_reading(self) -> None:
        self.paused, self.pauses = True, self.pauses + 1

    def resume_reading(self) -> None:
        self.paused = False


def _protocol() -> tuple[PushWebSocketProtocol, _Transport]:
    """The protocol's receive side alone (what the override touches), on a fake transport."""
    protocol = PushWebSocketProtocol.__new__(PushWebSocketProtocol)
    transport = _Transport()
    protocol.transport = transport  # type: ignore[assignment]
    protocol.queue = asyncio.Queue()
    protocol.read_paused = False
    protocol.close_sent = False
    protocol.frames = []
    return protocol, transport


def _received(protocol: PushWebSocketProtocol, text: str) -> None:
    protocol.curr_msg_data_type = "text"
    protocol.frames = [text.encode()]
    protocol.send_receive_event_to_app()


@pytest.mark.parametrize(
    ("size", "count"),
    [(10, MAX_QUEUED_FRAMES), (16_384, MAX_QUEUED_BYTES // 16_384 + 1)],
    ids=["frames", "bytes"],
)
async def test_reading_pauses_past_the_bound_and_resumes_at_half(size: int, count: int) -> None:
    protocol, transport = _protocol()
    for _ in range(count - 1):
        _received(protocol, "x" * size)
    assert not transport.paused  # within the bound: the app may be behind that far
    _received(protocol, "x" * size)
    assert transport.paused and transport.pauses == 1
    _received(protocol, "x" * size)  # what one read already held is still queued
    assert transport.pauses == 1
    texts = []
    while transport.paused:
        message = await protocol.receive()
        texts.append(message["text"])
    assert 1 <= len(texts) <= count // 2 + 2  # resumed once half caught up
    while not protocol.queue.empty():
        texts.append((await protocol.receive())["text"])
    assert texts == ["x" * size] * (count + 1)
    assert protocol._queued_bytes == 0 and not protocol._sizes
