"""The pre-framed path's parts on one loop: framing once, one write per connection per
loop turn, the slow-consumer bound against the transport's buffer, closing transports.

The transport here records what it is given (the end-to-end behaviour over real
sockets is in ``test_wire.py``); frames are read back with ``websockets``' own parser.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from praison_push.hub import Connection
from praison_push.hub.principal import ANONYMOUS
from praison_push.protocol import CloseCode
from praison_push.server.wire import Flusher, Framer, WireWriter


class RecordingTransport:
    """What a ``WireWriter`` needs of an asyncio transport, recording every call."""

    def __init__(self, buffered: int = 0) -> None:
        self.writes: list[bytes] = []
        self.buffered = buffered
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def abort(self) -> None:
        self.aborted = True
        self.closing = True


def parse(data: bytes) -> list[str]:
    """The text frames in ``data`` (server frames: unmasked), parsed by websockets."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    texts: list[str] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False)
        with pytest.raises(StopIteration) as done:
            next(parser)  # all the data is there: the parser finishes at once
        frame = done.value.value
        assert frame.opcode is Opcode.TEXT and frame.fin
        texts.append(frame.data.decode())
    return texts


def make_connection(max_frames: int = 100, max_bytes: int = 100_000) -> Connection:
    return Connection(
        "c1",
        "client",
        principal=ANONYMOUS,
        peer="127.0.0.1",
        now=0.0,
        max_frames=max_frames,
        max_bytes=max_bytes,
    )


@pytest.fixture
def sent() -> Iterator[list[dict[str, Any]]]:
    yield []


async def next_turn() -> None:
    """Let the loop finish this turn and run what it scheduled (the flusher's write)."""
    done = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(done.set_result, None)
    await done


def writer_for(
    connection: Connection, transport: RecordingTransport, sent: list[dict[str, Any]]
) -> WireWriter:
    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    flusher = Flusher(asyncio.get_running_loop())
    return WireWriter(connection, send, transport, flusher)  # type: ignore[arg-type]


async def test_frames_of_one_turn_go_out_in_one_write_in_order(sent: list[Any]) -> None:
    connection, transport = make_connection(), RecordingTransport()
    connection.send_text("early")  # queued before the writer attached: goes first
    writer_for(connection, transport, sent)
    for n in range(3):
        assert connection.send_text(json.dumps({"n": n}))
    assert transport.writes == []  # nothing until the turn ends
    await next_turn()
    (write,) = transport.writes
    assert parse(write) == ["early", '{"n": 0}', '{"n": 1}', '{"n": 2}']
    connection.send_text("next turn")
    await next_turn()
    assert parse(transport.writes[1]) == ["next turn"]
    assert len(transport.writes) == 2


async def test_a_text_is_framed_once_whatever_the_connections(sent: list[Any]) -> None:
    loop = asyncio.get_running_loop()
    flusher = Flusher(loop)
    transports = [RecordingTransport() for _ in range(5)]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    connections = [make_connection() for _ in transports]
    for connection, transport in zip(connections, transports, strict=True):
        WireWriter(connection, send, transport, flusher)  # type: ignore[arg-type]
    publication = json.dumps({"type": "channel_message", "data": "x" * 300})
    for connection in connections:
        connection.send_text(publication)
    await next_turn()
    frames = [transport.writes[0] for transport in transports]
    assert all(frame is frames[0] for frame in frames)  # the very same bytes object
    assert parse(frames[0]) == [publication]


def test_the_framer_remembers_the_last_two_texts() -> None:
    framer = Framer()
    a, b, c = "a" * 10, "b" * 200, "c" * 70_000  # the three WebSocket length encodings
    frame_a = framer.framed(a)
    assert framer.framed(a) is frame_a
    frame_b = framer.framed(b)
    assert framer.framed(a) is frame_a and framer.framed(b) is frame_b
    frame_c = framer.framed(c)
    assert parse(frame_a + frame_b + frame_c) == [a, b, c]
    assert framer.framed(a) is not frame_a  # forgotten after two others: built again
    assert framer.framed(a) == frame_a


async def test_the_byte_bound_counts_the_transports_buffer(sent: list[Any]) -> None:
    connection = make_connection(max_bytes=10_000)
    transport = RecordingTransport(buffered=9_000)  # the peer reads slowly
    writer_for(connection, transport, sent)
    assert connection.send_text("x" * 500)
    assert not connection.send_text("y" * 600)  # 9,000 + 502 + 602 > 10,000
    assert connection.close_code == CloseCode.SLOW_CONSUMER
    await next_turn()
    assert transport.writes == []  # the slow consumer's backlog is dropped
    assert sent == [{"type": "websocket.close", "code": 1013, "reason": "send queue full"}]


async def test_the_frame_bound_counts_a_turns_frames(sent: list[Any]) -> None:
    connection, transport = make_connection(max_frames=3), RecordingTransport()
    writer_for(connection, transport, sent)
    assert all(connection.send_text(str(n)) for n in range(3))
    assert not connection.send_text("3")
    assert connection.close_code == CloseCode.SLOW_CONSUMER


async def test_a_closing_transport_gets_nothing(sent: list[Any]) -> None:
    connection, transport = make_connection(), RecordingTransport()
    writer_for(connection, transport, sent)
    connection.send_text("queued")
    transport.closing = True  # the peer's end was read in this turn
    connection.send_text("more")
    await next_turn()
    assert transport.writes == []
    transport.closing = False  # even if the transport said otherwise later
    assert connection.send_text("after")  # taken (not a slow consumer)...
    await next_turn()
    assert transport.writes == []  # ...and dropped: never written again
    assert connection.close_code is None


async def test_a_close_goes_after_the_frames_before_it(sent: list[Any]) -> None:
    connection, transport = make_connection(), RecordingTransport()
    writer_for(connection, transport, sent)
    connection.send_text("last words")
    connection.close(CloseCode.GOING_AWAY, "bye")
    assert not connection.send_text("too late")
    await asyncio.sleep(0)  # the close task runs
    await next_turn()
    assert [parse(w) for w in transport.writes] == [["last words"]]
    assert sent == [{"type": "websocket.close", "code": 1001, "reason": "bye"}]


async def test_abort_aborts_the_transport_and_stop_lets_go(sent: list[Any]) -> None:
    connection, transport = make_connection(), RecordingTransport()
    writer = writer_for(connection, transport, sent)
    connection.send_text("pending")
    connection.close(CloseCode.SLOW_CONSUMER, "send queue full")
    connection.abort()
    assert transport.aborted
    await next_turn()
    assert transport.writes == [] and sent == []  # the close task was cancelled
    writer.stop()
    assert connection.sink is None and connection.on_ready is None
    assert connection.on_abort is None


async def test_a_connection_closing_before_the_writer_attached_is_closed(
    sent: list[Any],
) -> None:
    connection, transport = make_connection(), RecordingTransport()
    connection.send_text("refused: limit")
    connection.close(4008, "limit")
    writer_for(connection, transport, sent)
    await asyncio.sleep(0)
    await next_turn()
    assert [parse(w) for w in transport.writes] == [["refused: limit"]]
    assert sent == [{"type": "websocket.close", "code": 4008, "reason": "limit"}]
