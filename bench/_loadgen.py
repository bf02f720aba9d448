"""Load generator for bench/fanout.py: many picows WebSocket clients in one process.

Why a separate process: the orchestrator pins it to a core of its own, so the
server under test and the clients never compete for CPU. Why picows: its frame
parsing is C, so one process can absorb far more frames per second than a
Python server can produce, and the numbers measure the server, not this script.

The per-frame path is kept cheap on purpose: a ``channel_message`` is not
JSON-decoded; one precompiled regex pulls ``seq`` and ``t`` (the publisher's
``time.monotonic_ns()``) out of the raw bytes. ``seq`` feeds exact loss and
duplicate counts (one byte per subscriber per message); latency is recorded for
a stride of ``seq`` values so large runs keep a bounded sample. Each 64th
message (by ``seq``) is also fully decoded to check that the fast path read the
right thing (bad ones are counted). Frames that do not match the pattern take a
slow path through ``json.loads`` (counted too: a gateway whose frames keep
taking it makes the load generator, not the gateway, the bottleneck).

Measured on this machine: the regex path costs ~0.95 µs per frame in Python,
``json.loads`` of the same frame ~3-4 µs (``--parse json`` runs the latter).

With ``--ack`` (``bench/delivery.py``, acknowledged delivery on), each
subscriber connects with a ``client_id`` of its own and acknowledges what it
receives as the package's clients do: batched, a ``message_ack`` of at most
100 ``event_ids``, sent by the subscriber's own timer 100 ms after the oldest
delivery it owes (or at once with 100), ``"reply": false`` as the clients send
them — except each subscriber's first batch, whose
``ack_received`` is counted (``ok`` ones prove the gateway was tracking).

Control protocol with the orchestrator (JSON lines on stdout, commands on stdin):

``fanout``
    prints ``{"event": "ready"}`` once every subscriber has its
    ``channel.subscribed`` reply, waits for ``go``, publishes (at most
    ``--window`` unanswered, or paced at ``--rate`` per second), prints
    ``{"event": "result", ...}``, closes its connections and exits.
``idle``
    opens one warm-up connection, prints ``{"event": "warm"}``, waits for
    ``go``, opens the idle connections (each counts once the server's first
    frame, its greeting, arrives), prints ``{"event": "ready", ...}``, waits for
    ``close`` and exits.

Any failure is reported as ``{"event": "error", "message": ...}`` with exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import sys
import time
from collections.abc import Callable

from _loadgen_common import (
    PONG,
    Control,
    DeliveryCounters,
    answer_close,
    bounded_gather,
    close_all,
    close_code,
    connect,
    emit,
    json_object,
    open_all,
    open_ready,
    percentile,
    run,
)
from picows import WSFrame, WSListener, WSMsgType, WSTransport

CHANNEL = "bench"
_SEQ_T = re.compile(rb'"seq"\s*:\s*(\d+)\s*,\s*"t"\s*:\s*(\d+)')
_search = _SEQ_T.search
_SUBSCRIBE = json.dumps({"type": "channel.subscribe", "channel": CHANNEL}).encode()
_VERIFY_EVERY = 64
_monotonic_ns = time.monotonic_ns
_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"]+)"')
_event_id = _EVENT_ID.search
#: Acknowledgements: at most this many ids per frame, this long after the oldest owed one.
ACK_BATCH = 100
ACK_INTERVAL = 0.1


class _FanoutStats(DeliveryCounters):
    """Counters shared by every subscriber of one fan-out run."""

    def __init__(self, subscribers: int, messages: int) -> None:
        super().__init__(subscribers * messages)
        self.messages = messages
        self.expected = subscribers * messages
        self.control_frames: collections.Counter[str] = collections.Counter()
        self.last_ns = 0
        self.latencies_ns: list[int] = []
        self.done = asyncio.Event()
        self.progress = asyncio.Event()
        self.ack_frames = 0
        self.acked_ids = 0
        self.ack_replies = 0
        self.acks_ok = 0
        self.acks_unknown = 0

    def record(self, seen: bytearray, seq: int, sent_ns: int, now: int) -> None:
        """Count one delivery of ``seq`` to the subscriber owning ``seen``."""
        if seq >= self.messages:
            self.out_of_range += 1
            return
        if seen[seq]:
            self.duplicates += 1
            return
        seen[seq] = 1
        self.received += 1
        self.last_ns = now
        if seq % self.latency_stride == 0:
            self.latencies_ns.append(now - sent_ns)
        if self.received == self.expected:
            self.done.set()


class _Subscriber(WSListener):
    """One subscriber connection: subscribes on connect, then counts deliveries."""

    def __init__(self, stats: _FanoutStats) -> None:
        super().__init__()
        self.stats = stats
        self.seen = bytearray(stats.messages)
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, _SUBSCRIBE)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # Hot path: runs once per delivery, so it is written out flat (no helper calls).
        payload = frame.get_payload_as_bytes()
        match = _search(payload)
        if match is None:
            self._control(transport, frame, payload)
            return
        now = _monotonic_ns()
        seq = int(match[1])
        stats = self.stats
        try:
            if self.seen[seq]:
                stats.duplicates += 1
                return
        except IndexError:
            stats.out_of_range += 1
            return
        self.seen[seq] = 1
        stats.last_ns = now
        stats.received += 1
        if seq % stats.latency_stride == 0:
            stats.latencies_ns.append(now - int(match[2]))
        if seq % _VERIFY_EVERY == 0:
            self._verify(payload, seq)
        if stats.received == stats.expected:
            stats.done.set()

    def _verify(self, payload: bytes, seq: int) -> None:
        try:
            msg = json.loads(payload)
            ok = (
                msg.get("type") == "channel_message"
                and msg.get("channel") == CHANNEL
                and msg["data"]["seq"] == seq
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            self.stats.bad_frames += 1

    def _control(self, transport: WSTransport, frame: WSFrame, payload: bytes) -> None:
        if answer_close(transport, frame):
            return
        msg = json_object(payload, self.stats.errors)
        if msg is None:
            return
        kind = msg.get("type")
        self.stats.control_frames[str(kind)] += 1
        if kind == "channel.subscribed":
            if not self.subscribed.done():
                self.subscribed.set_result(None)
        elif kind == "channel_message":
            # Slow path: a delivery whose bytes the regex did not recognise.
            self.stats.slow_path += 1
            data = msg.get("data")
            if isinstance(data, dict) and isinstance(data.get("seq"), int):
                self.stats.record(self.seen, data["seq"], int(data.get("t", 0)), _monotonic_ns())
            else:
                self.stats.bad_frames += 1
        elif kind == "error":
            self.stats.errors[f"error {msg.get('code')}"] += 1
            if not self.subscribed.done():
                self.subscribed.set_exception(RuntimeError(f"subscribe refused: {msg}"))
        elif kind == "ping":
            transport.send(WSMsgType.TEXT, PONG)
        elif kind == "ack_received":
            stats = self.stats
            stats.ack_replies += 1
            stats.acks_ok += msg.get("ok") is True
            stats.acks_unknown += len(msg.get("unknown") or ())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.stats.disconnected(transport)
        if not self.subscribed.done():
            self.subscribed.set_exception(
                ConnectionError(f"closed before subscribed ({close_code(transport)})")
            )


class _AckingSubscriber(_Subscriber):
    """A subscriber that acknowledges every delivery, batched (``--ack``).

    The fast path is :class:`_Subscriber`'s, written out flat again with the
    ``event_id`` kept for the next ``message_ack``.
    """

    def __init__(self, stats: _FanoutStats, acks: set[_AckingSubscriber]) -> None:
        super().__init__(stats)
        self.owed: list[bytes] = []
        self.transport: WSTransport | None = None
        self._acks = acks
        #: Fires ``ACK_INTERVAL`` after the oldest owed delivery, as the clients' timer does.
        self._timer: asyncio.TimerHandle | None = None
        #: The first batch asks for its ``ack_received``: ``ok`` proves the gateway tracked.
        self._ask = True

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        super().on_ws_connected(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        payload = frame.get_payload_as_bytes()
        match = _search(payload)
        if match is None:
            self._control(transport, frame, payload)
            return
        now = _monotonic_ns()
        found = _event_id(payload, match.end())
        if found is not None:
            owed = self.owed
            owed.append(found[1])
            if len(owed) >= ACK_BATCH:
                self.flush()
            elif len(owed) == 1:
                self._acks.add(self)
                self._timer = asyncio.get_running_loop().call_later(ACK_INTERVAL, self.flush)
        seq = int(match[1])
        stats = self.stats
        try:
            if self.seen[seq]:
                stats.duplicates += 1
                return
        except IndexError:
            stats.out_of_range += 1
            return
        self.seen[seq] = 1
        stats.last_ns = now
        stats.received += 1
        if seq % stats.latency_stride == 0:
            stats.latencies_ns.append(now - int(match[2]))
        if seq % _VERIFY_EVERY == 0:
            self._verify(payload, seq)
        if stats.received == stats.expected:
            stats.done.set()

    def flush(self) -> None:
        """Send what is owed as one ``message_ack``."""
        owed, self.owed = self.owed, []
        self._acks.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not owed or self.transport is None:
            return
        reply = b"true" if self._ask else b"false"
        self._ask = False
        self.transport.send(
            WSMsgType.TEXT,
            b'{"type":"message_ack","event_ids":["%s"],"reply":%s}' % (b'","'.join(owed), reply),
        )
        self.stats.ack_frames += 1
        self.stats.acked_ids += len(owed)


class _JsonSubscriber(_Subscriber):
    """A subscriber that fully decodes every frame (``--parse json``).

    Exists only to measure what full JSON parsing costs the load generator, to
    show whether the regex fast path is needed for the numbers to mean anything.
    """

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        payload = frame.get_payload_as_bytes()
        try:
            msg = json.loads(payload)
            data = msg["data"]
            seq, sent_ns = data["seq"], data["t"]
        except (ValueError, KeyError, TypeError):
            self._control(transport, frame, payload)
            return
        if msg.get("type") != "channel_message":
            self._control(transport, frame, payload)
            return
        self.stats.record(self.seen, seq, sent_ns, _monotonic_ns())


class _Publisher(WSListener):
    """The publishing connection: tracks ``channel.published`` replies for the window."""

    def __init__(self) -> None:
        super().__init__()
        self.acked = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.delivered = 0
        self.delivered_min: int | None = None
        self.outstanding = 0
        self.slot = asyncio.Event()
        self.disconnected = False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if answer_close(transport, frame):
            return
        msg = json_object(frame.get_payload_as_bytes())
        if msg is None:
            return
        kind = msg.get("type")
        if kind == "channel.published":
            delivered = int(msg.get("delivered", 0))
            self.delivered += delivered
            if self.delivered_min is None or delivered < self.delivered_min:
                self.delivered_min = delivered
            self.acked += 1
        elif kind == "error":
            self.errors[str(msg.get("code"))] += 1
        elif kind == "ping":
            transport.send(WSMsgType.TEXT, PONG)
            return
        else:
            return
        self.outstanding -= 1
        self.slot.set()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected = True
        self.slot.set()


class _IdleClient(WSListener):
    """An idle connection: accepted once the server's first text frame arrives."""

    def __init__(self, counters: collections.Counter[str], closing: list[bool]) -> None:
        super().__init__()
        self.counters = counters
        self.closing = closing
        self.accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if answer_close(transport, frame):
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        if not self.accepted.done():
            self.accepted.set_result(None)
        elif b'"ping"' in frame.get_payload_as_bytes():
            transport.send(WSMsgType.TEXT, PONG)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closing[0]:
            self.counters[f"disconnected ({close_code(transport)})"] += 1
        if not self.accepted.done():
            self.accepted.set_exception(ConnectionError("closed before greeting"))


def _percentile_ms(sorted_ns: list[int], q: float) -> float:
    """``percentile`` of nanoseconds, in milliseconds; NaN when there are none."""
    value = percentile(sorted_ns, q)
    return float("nan") if value is None else value / 1e6


async def _publish_paced(
    transport: WSTransport, publisher: _Publisher, args: argparse.Namespace, deadline: float
) -> tuple[int, bool]:
    """Send ``--messages`` publishes at ``--rate`` per second, whatever the replies.

    An open loop: publish ``i`` is due at start + i / rate, so a server that
    falls behind is not given time to catch up (its queueing shows in p99).
    Returns how many were sent and whether the server stopped answering.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    for seq in range(args.messages):
        due = start + seq / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if publisher.disconnected or time.monotonic() >= deadline:
            break
        transport.send(
            WSMsgType.TEXT,
            b'{"type":"channel.publish","channel":"bench","data":{"seq":%d,"t":%d}}'
            % (seq, _monotonic_ns()),
        )
        publisher.outstanding += 1
        sent += 1
    stall_until = time.monotonic() + args.stall
    while publisher.outstanding > 0 and not publisher.disconnected:
        publisher.slot.clear()
        remaining = min(stall_until, deadline) - time.monotonic()
        if remaining <= 0:
            return sent, True
        try:
            await asyncio.wait_for(publisher.slot.wait(), remaining)
        except TimeoutError:
            return sent, True
    return sent, publisher.disconnected


async def _publish(
    transport: WSTransport, publisher: _Publisher, args: argparse.Namespace, deadline: float
) -> tuple[int, bool]:
    """Send ``--messages`` publishes with at most ``--window`` unanswered.

    Returns how many were sent and whether the server stopped answering for
    ``--stall`` seconds. Each publish carries ``time.monotonic_ns()`` taken just
    before sending; CLOCK_MONOTONIC is system-wide, so subscribers in this
    process compare it directly with their receive time.
    """
    window: int = args.window

    async def wait_for_slot(limit: int) -> bool:
        while publisher.outstanding > limit and not publisher.disconnected:
            publisher.slot.clear()
            timeout = min(args.stall, deadline - time.monotonic())
            if timeout <= 0:
                return False
            try:
                await asyncio.wait_for(publisher.slot.wait(), timeout)
            except TimeoutError:
                return False
        return not publisher.disconnected

    sent = 0
    ok = True
    for seq in range(args.messages):
        ok = await wait_for_slot(window - 1)
        if not ok or time.monotonic() >= deadline:
            break
        transport.send(
            WSMsgType.TEXT,
            b'{"type":"channel.publish","channel":"bench","data":{"seq":%d,"t":%d}}'
            % (seq, _monotonic_ns()),
        )
        publisher.outstanding += 1
        sent += 1
    if ok:
        ok = await wait_for_slot(0)
    return sent, not ok


async def _run_fanout(args: argparse.Namespace, control: Control) -> None:
    stats = _FanoutStats(args.subscribers, args.messages)
    transports: list[WSTransport] = []
    t_connect = time.monotonic()
    subscriber_cls = _JsonSubscriber if args.parse == "json" else _Subscriber
    owing: set[_AckingSubscriber] = set()
    make: Callable[[], _Subscriber] = lambda: subscriber_cls(stats)  # noqa: E731
    url_of: Callable[[int], str] | None = None
    # Subscribers spread over --sub-url round-robin (gateways sharing a Redis), else --url.
    sub_urls: list[str] = args.sub_url or [args.url]
    if args.ack or args.client_ids:
        # Stable identities: the gateway tracks deliveries of clients that name themselves.
        url_of = lambda n: f"{sub_urls[n % len(sub_urls)]}?client_id=bench-sub-{n}"  # noqa: E731
    elif args.sub_url:
        url_of = lambda n: sub_urls[n % len(sub_urls)]  # noqa: E731
    if args.ack:
        make = lambda: _AckingSubscriber(stats, owing)  # noqa: E731
    await open_all(
        "subscribers",
        args.subscribers,
        make,
        lambda subscriber: subscriber.subscribed,
        args,
        transports,
        url_of,
    )
    pub_transport, publisher = await connect(_Publisher, args.url, args.timeout)
    transports.append(pub_transport)
    emit("ready", connect_s=round(time.monotonic() - t_connect, 3))
    await control.expect("go", args.timeout * 10)

    cpu0 = time.process_time()
    t0 = _monotonic_ns()
    deadline = time.monotonic() + args.deadline
    publish = _publish_paced if args.rate > 0 else _publish
    sent, stalled = await publish(pub_transport, publisher, args, deadline)
    t_published = _monotonic_ns()
    # A publish run cut short by the deadline or a stall only owes what was sent.
    stats.expected = args.subscribers * sent
    if stats.received >= stats.expected:
        stats.done.set()
    # Deliveries: until all arrived, nothing arrived for --quiet seconds, or the deadline.
    while not stats.done.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        before = stats.received
        try:
            await asyncio.wait_for(stats.done.wait(), min(args.quiet, remaining))
        except TimeoutError:
            if stats.received == before:
                break
    cpu = time.process_time() - cpu0
    t_end = stats.last_ns or _monotonic_ns()
    if args.ack:
        # The last acknowledgements (their timers), then their replies (bounded).
        await asyncio.sleep(2 * ACK_INTERVAL)
        for subscriber in list(owing):
            subscriber.flush()

    elapsed_s = max(1e-9, (t_end - t0) / 1e9)
    publish_s = max(1e-9, (t_published - t0) / 1e9)
    latencies = sorted(stats.latencies_ns)
    result = {
        "subscribers": args.subscribers,
        "messages": args.messages,
        "window": args.window,
        "rate": args.rate,
        "parse": args.parse,
        "published": sent,
        "acked": publisher.acked,
        "publish_errors": dict(publisher.errors),
        "publish_stalled": stalled,
        "deadline_hit": time.monotonic() >= deadline,
        "delivered_reported": publisher.delivered,
        "delivered_min": publisher.delivered_min,
        "expected": stats.expected,
        "received": stats.received,
        "loss": stats.expected - stats.received,
        "duplicates": stats.duplicates,
        "out_of_range": stats.out_of_range,
        "slow_path_frames": stats.slow_path,
        "bad_frames": stats.bad_frames,
        "errors": dict(stats.errors),
        "subscriber_control_frames": dict(stats.control_frames),
        "unexpected_disconnects": stats.unexpected_disconnects,
        "close_codes": dict(stats.close_codes),
        "elapsed_s": round(elapsed_s, 4),
        "publish_s": round(publish_s, 4),
        "deliveries_per_s": round(stats.received / elapsed_s, 1),
        "publishes_per_s": round(publisher.acked / publish_s, 1),
        "latency_samples": len(latencies),
        "p50_ms": round(_percentile_ms(latencies, 0.50), 3),
        "p99_ms": round(_percentile_ms(latencies, 0.99), 3),
        "max_ms": round(_percentile_ms(latencies, 1.0), 3),
        "ack": bool(args.ack),
        "ack_frames": stats.ack_frames,
        "acked_ids": stats.acked_ids,
        "ack_replies": stats.ack_replies,
        "acks_ok": stats.acks_ok,
        "acks_unknown_ids": stats.acks_unknown,
        "loadgen_cpu_s": round(cpu, 3),
        "loadgen_cpu_pct": round(100.0 * cpu / elapsed_s, 1),
    }
    emit("result", **result)
    stats.closing = True
    await close_all(transports, args.timeout)


async def _run_idle(args: argparse.Namespace, control: Control) -> None:
    counters: collections.Counter[str] = collections.Counter()
    closing = [False]
    transports: list[WSTransport] = []

    async def open_one() -> WSTransport:
        return await open_ready(
            lambda: _IdleClient(counters, closing),
            lambda client: client.accepted,
            args,
            transports,
        )

    await open_one()
    emit("warm")
    await control.expect("go", args.timeout * 10)
    t0 = time.monotonic()
    outcomes = await bounded_gather([open_one] * args.connections, args.connect_concurrency)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    for failure in failures:
        counters[f"failed: {type(failure).__name__}"] += 1
    emit(
        "ready",
        requested=args.connections,
        accepted=len(outcomes) - len(failures),
        failures=dict(counters),
        first_failure=repr(failures[0]) if failures else None,
        connect_s=round(time.monotonic() - t0, 3),
    )
    await control.expect("close", args.timeout * 10)
    closing[0] = True
    await close_all(transports, args.timeout)


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring for the control protocol."""
    parser = argparse.ArgumentParser(description="bench/fanout.py load generator (picows)")
    parser.add_argument("mode", choices=["fanout", "idle"])
    parser.add_argument("--url", required=True)
    parser.add_argument(
        "--sub-url",
        action="append",
        default=[],
        help="subscribers' URL, repeatable: spread round-robin (default: --url)",
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="publishes per second, paced (0: --window)"
    )
    parser.add_argument("--parse", choices=["regex", "json"], default="regex")
    parser.add_argument(
        "--ack", action="store_true", help="subscribers name themselves and acknowledge (batched)"
    )
    parser.add_argument(
        "--client-ids", action="store_true", help="subscribers name themselves (no acks)"
    )
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--connect-concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-connection/handshake")
    parser.add_argument("--stall", type=float, default=10.0, help="max wait for a publish reply")
    parser.add_argument("--quiet", type=float, default=2.0, help="stop after no delivery for this")
    parser.add_argument("--deadline", type=float, default=60.0, help="max publish+delivery time")
    args = parser.parse_args(argv)
    return run(args, _run_fanout if args.mode == "fanout" else _run_idle)


if __name__ == "__main__":
    sys.exit(main())
