"""Load generator for bench/agents.py: agent-run watchers as picows clients in one process.

Why a separate process, and why picows: see ``_loadgen.py`` (whose plumbing this
shares, from ``_loadgen_common.py``). Here the load is one agent run streamed to
many watchers:

* ``--watchers`` connections subscribe, before the run exists, to the
  ``executions`` feed with ``filters: {"agent_id": AGENT}`` (PROTOCOL.md §4):
  a watcher cannot know the execution id in advance, and the filtered feed
  carries every event of every run of that agent, from its first token on.
* One requester connection sends ``execute`` (``input: "TOKENS@RATE"``). The
  gateway subscribes it to the run's own channel ``executions:<id>``, so it is
  one more receiver, counted apart from the watchers.

The per-delivery path does not decode JSON: one precompiled regex pulls
``index`` and ``timestamp`` (the gateway's ``time.time()`` when it published the
token) from the raw bytes; latency is this process's ``time.time()`` at receipt
minus that (same host, same clock). ``index`` feeds exact loss and duplicate
counts per watcher (one byte per watcher per token). Every delivery updates the
maximum latency; a stride of indices keeps a bounded sample for percentiles.
Each 64th index is fully decoded to check that the fast path read the right
thing (event, token text ``t<index> ``, agent); frames the regex misses take a
slow path through ``json.loads`` and are counted.

Control protocol with the orchestrator (JSON lines on stdout, commands on stdin):
prints ``{"event": "ready"}`` once every watcher has its ``channel.subscribed``
reply and the requester is connected, waits for ``go``, starts the run, waits
until every receiver has the run's last event (``execution_complete`` or
``execution_error``) or the run stalls (``--quiet``) or ``--deadline`` passes
(then it cancels the run), prints ``{"event": "result", ...}``, closes its
connections and exits. Any failure is ``{"event": "error", "message": ...}``, exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import re
import sys
import time
from typing import Any

from _loadgen_common import (
    PONG,
    Control,
    DeliveryCounters,
    answer_close,
    close_all,
    close_code,
    connect,
    emit,
    json_object,
    open_all,
    percentile,
    run,
)
from picows import WSFrame, WSListener, WSMsgType, WSTransport

FEED = "executions"
#: ``…"token":"t7 t8 ","index":3,"count":2},"event_id":"…","timestamp":1712345678.12,…``
#: — the gateway sends tokens that come within its token interval as one chunk
#: (``count`` > 1). Data comes before the envelope's ``timestamp`` in the
#: gateway's frames; frames laid out otherwise take the (counted) slow path.
_TOKEN = re.compile(
    rb'"token":"((?:t\d+ )+)","index":(\d+)(?:,"count":\d+)?\},'
    rb'"event_id":"[^"]*","timestamp":([0-9.]+)'
)
_NUMBERS = re.compile(rb"t(\d+) ")
_search = _TOKEN.search
_numbers = _NUMBERS.findall
_VERIFY_EVERY = 64
_FINAL_EVENTS = ("execution_complete", "execution_error")
_time = time.time


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class _Stats(DeliveryCounters):
    """Counters shared by a group of receivers (the watchers, or the requester)."""

    def __init__(self, receivers: int, tokens: int, agent: str) -> None:
        super().__init__(receivers * tokens)
        self.receivers = receivers
        self.tokens = tokens
        self.agent = agent
        self.chunks = 0
        self.events: collections.Counter[str] = collections.Counter()
        self.execution_ids: set[str] = set()
        self.latencies: list[float] = []
        self.due_latencies: list[float] = []
        self.max_latency = float("-inf")
        self.first_recv = 0.0
        self.last_recv = 0.0
        self.first_ts: float | None = None  # gateway timestamp of token 0
        self.last_ts: float | None = None  # gateway timestamp of the last token
        self.start_ts: float | None = None  # gateway timestamp of execution_start
        self.rate = 0.0  # the run's requested rate, to place each token on its schedule
        self.max_index = -1
        self.final: dict[str, Any] | None = None  # data of execution_complete / _error
        self.finished = 0
        self.all_finished = asyncio.Event()

    def record(self, seen: bytearray, index: int, ts: float, now: float) -> None:
        """Count one delivery of token ``index`` (slow path; mirrors the inline fast path)."""
        if index >= len(seen):
            self.out_of_range += 1
            return
        if seen[index]:
            self.duplicates += 1
            return
        seen[index] = 1
        self._count(index, ts, now)

    def _count(self, index: int, ts: float, now: float) -> None:
        self.received += 1
        self.last_recv = now
        latency = now - ts
        if latency > self.max_latency:
            self.max_latency = latency
        if index % self.latency_stride == 0:
            self.sample(index, latency, now)
        if index > self.max_index:
            self.max_index = index
            self.last_ts = ts

    def sample(self, index: int, latency: float, now: float) -> None:
        """Keep one latency for percentiles (a stride of indices; index 0 always)."""
        self.latencies.append(latency)
        if self.start_ts is not None and self.rate > 0:
            self.due_latencies.append(now - (self.start_ts + index / self.rate))
        if index == 0:
            self.first_ts = now - latency
        if not self.first_recv:
            self.first_recv = now

    def finish_one(self) -> None:
        self.finished += 1
        if self.finished >= self.receivers:
            self.all_finished.set()

    def summary(self, emitted: int) -> dict[str, Any]:
        """Counts and latencies of this group, for ``emitted`` tokens per receiver."""
        latencies = sorted(self.latencies)
        due = sorted(self.due_latencies)
        expected = self.receivers * emitted
        elapsed = (
            self.last_recv - self.first_ts if self.first_ts is not None and self.received else None
        )
        emit_span = (
            self.last_ts - self.first_ts
            if self.first_ts is not None and self.last_ts is not None
            else None
        )
        return {
            "receivers": self.receivers,
            "expected": expected,
            "received": self.received,
            "chunks": self.chunks,
            "loss": expected - self.received,
            "duplicates": self.duplicates,
            "out_of_range": self.out_of_range,
            "slow_path_frames": self.slow_path,
            "bad_frames": self.bad_frames,
            "errors": dict(self.errors),
            "events": dict(self.events),
            "execution_ids": sorted(self.execution_ids),
            "finished": self.finished,
            "unexpected_disconnects": self.unexpected_disconnects,
            "close_codes": dict(self.close_codes),
            "elapsed_s": None if elapsed is None else round(elapsed, 4),
            "tokens_per_s": round(self.received / elapsed, 1) if elapsed else None,
            "max_index": self.max_index,
            "emit_span_s": None if emit_span is None else round(emit_span, 4),
            "agent_rate": (
                round(self.max_index / emit_span, 1) if emit_span and self.max_index > 0 else None
            ),
            "latency_samples": len(latencies),
            "latency_stride": self.latency_stride,
            "p50_ms": _ms(percentile(latencies, 0.50)),
            "p90_ms": _ms(percentile(latencies, 0.90)),
            "p99_ms": _ms(percentile(latencies, 0.99)),
            "max_ms": _ms(self.max_latency if self.received else None),
            "due_p50_ms": _ms(percentile(due, 0.50)),
            "due_p99_ms": _ms(percentile(due, 0.99)),
            "due_max_ms": _ms(due[-1] if due else None),
        }


class _Receiver(WSListener):
    """One watcher (or the requester): counts token deliveries, notes the run's events."""

    def __init__(self, stats: _Stats, subscribe: bytes | None) -> None:
        super().__init__()
        self.stats = stats
        self.seen = bytearray(stats.tokens)
        self._subscribe = subscribe
        self.finished = False
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.accepted: asyncio.Future[dict[str, Any]] = loop.create_future()

    def on_ws_connected(self, transport: WSTransport) -> None:
        if self._subscribe is None:
            self.ready.set_result(None)
        else:
            transport.send(WSMsgType.TEXT, self._subscribe)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # Hot path: runs once per token delivery, so it is written out flat (the
        # same counting as _Stats.record, without its call).
        payload = frame.get_payload_as_bytes()
        match = _search(payload)
        if match is None:
            self._control(transport, frame, payload)
            return
        now = _time()
        stats = self.stats
        seen = self.seen
        latency = now - float(match[3])
        if latency > stats.max_latency:
            stats.max_latency = latency
        stats.last_recv = now
        stats.chunks += 1
        if int(match[2]) % _VERIFY_EVERY == 0:
            self._verify(payload)
        for number in _numbers(match[1]):
            index = int(number)
            try:
                if seen[index]:
                    stats.duplicates += 1
                    continue
            except IndexError:
                stats.out_of_range += 1
                continue
            seen[index] = 1
            stats.received += 1
            if index % stats.latency_stride == 0:
                stats.sample(index, latency, now)
            if index > stats.max_index:
                stats.max_index = index
                stats.last_ts = now - latency

    def _verify(self, payload: bytes) -> None:
        try:
            msg = json.loads(payload)
            data = msg["data"]
            numbers = [int(n) for n in _numbers(data["token"].encode())]
            ok = (
                msg.get("type") == "channel_message"
                and data["event"] == "execution_token"
                and data["token"] == "".join(f"t{n} " for n in numbers)
                and len(numbers) == data.get("count", 1)
                and numbers == list(range(numbers[0], numbers[0] + len(numbers)))
                and data["agent_id"] == self.stats.agent
            )
            self.stats.execution_ids.add(str(data.get("execution_id")))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            self.stats.bad_frames += 1

    def _control(self, transport: WSTransport, frame: WSFrame, payload: bytes) -> None:
        if answer_close(transport, frame):
            return
        if frame.msg_type is not WSMsgType.TEXT or not frame.fin:
            self.stats.errors[f"unexpected frame {frame.msg_type.name} fin={frame.fin}"] += 1
            return
        msg = json_object(payload, self.stats.errors)
        if msg is None:
            return
        kind = msg.get("type")
        if kind == "channel_message":
            self._event(msg)
        elif kind == "channel.subscribed":
            if not self.ready.done():
                self.ready.set_result(None)
        elif kind == "execute.accepted":
            if not self.accepted.done():
                self.accepted.set_result(msg)
        elif kind == "error":
            self.stats.errors[f"error {msg.get('code')}"] += 1
            self._fail(RuntimeError(f"refused: {msg}"))
        elif kind == "ping":
            transport.send(WSMsgType.TEXT, PONG)

    def _event(self, msg: dict[str, Any]) -> None:
        stats = self.stats
        data = msg.get("data")
        if not isinstance(data, dict):
            stats.bad_frames += 1
            return
        event = str(data.get("event"))
        stats.events[event] += 1
        if event == "execution_token":
            # Slow path: a token whose bytes the regex did not recognise.
            stats.slow_path += 1
            index, ts = data.get("index"), msg.get("timestamp")
            if isinstance(index, int) and isinstance(ts, (int, float)):
                stats.record(self.seen, index, float(ts), _time())
            else:
                stats.bad_frames += 1
            return
        if event == "execution_start" and isinstance(msg.get("timestamp"), (int, float)):
            stats.start_ts = float(msg["timestamp"])
        if event in _FINAL_EVENTS and not self.finished:
            stats.final = data
            self.finished = True
            stats.finish_one()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.stats.disconnected(transport) and not self.finished:
            self.finished = True  # it will receive nothing more
            self.stats.finish_one()
        self._fail(ConnectionError(f"closed ({close_code(transport)})"))

    def _fail(self, exc: Exception) -> None:
        """Fail the pending waits; marked retrieved, as a watcher's ``accepted`` has no awaiter."""
        for future in (self.ready, self.accepted):
            if not future.done():
                future.set_exception(exc)
                future.exception()


async def _wait_finished(groups: list[_Stats], quiet: float, deadline: float) -> tuple[bool, bool]:
    """Until every receiver has the run's last event; returns (stalled, deadline_hit)."""
    while not all(g.all_finished.is_set() for g in groups):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False, True
        before = sum(g.received + g.finished for g in groups)
        waits = [asyncio.ensure_future(g.all_finished.wait()) for g in groups]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), min(quiet, remaining))
        except asyncio.TimeoutError:
            if sum(g.received + g.finished for g in groups) == before:
                return True, False
    return False, False


async def _run(args: argparse.Namespace, control: Control) -> None:
    watchers = _Stats(args.watchers, args.tokens, args.agent)
    requester_stats = _Stats(1, args.tokens, args.agent)
    for stats in (watchers, requester_stats):
        stats.rate = args.rate
    subscribe = json.dumps(
        {"type": "channel.subscribe", "channel": FEED, "filters": {"agent_id": args.agent}}
    ).encode()
    transports: list[WSTransport] = []
    t_connect = time.monotonic()
    await open_all(
        "watchers",
        args.watchers,
        lambda: _Receiver(watchers, subscribe),
        lambda watcher: watcher.ready,
        args,
        transports,
    )
    req_transport, requester = await connect(
        lambda: _Receiver(requester_stats, None), args.url, args.timeout
    )
    transports.append(req_transport)
    emit("ready", connect_s=round(time.monotonic() - t_connect, 3))
    await control.expect("go", args.timeout * 10)

    cpu0 = time.process_time()
    t_go = time.time()
    deadline = time.monotonic() + args.deadline
    rate: float = args.rate
    execute = {
        "type": "execute",
        "agent_id": args.agent,
        "input": f"{args.tokens}@{int(rate) if rate.is_integer() else rate!r}",
        "ref": 1,
    }
    req_transport.send(WSMsgType.TEXT, json.dumps(execute).encode())
    accepted = await asyncio.wait_for(requester.accepted, args.timeout)
    execution_id = str(accepted.get("execution_id"))
    stalled, deadline_hit = await _wait_finished([watchers, requester_stats], args.quiet, deadline)
    cpu = time.process_time() - cpu0
    cancelled = False
    if not requester_stats.all_finished.is_set() and not req_transport.is_disconnected:
        # Leave no run streaming into a gateway that the orchestrator is about to stop.
        cancel = {"type": "execution.cancel", "execution_id": execution_id}
        req_transport.send(WSMsgType.TEXT, json.dumps(cancel).encode())
        cancelled = True

    final = requester_stats.final or watchers.final or {}
    usage = final.get("usage") if isinstance(final.get("usage"), dict) else {}
    completion = usage.get("completion_tokens") if isinstance(usage, dict) else None
    # Every receiver is owed every token of the run: the run's own count when it
    # completed, else all it was asked for (a receiver closed as a slow consumer, or a
    # run cut short by the deadline, shows as loss).
    emitted = completion if isinstance(completion, int) else args.tokens
    seen = max(watchers.max_index, requester_stats.max_index) + 1
    watch_summary = watchers.summary(emitted)
    elapsed = watch_summary["elapsed_s"]
    result = {
        "watchers": args.watchers,
        "tokens": args.tokens,
        "rate": args.rate,
        "agent": args.agent,
        "subscription": "feed-filter",
        "execution_id": execution_id,
        "status": final.get("status"),
        "final_error": final.get("error"),
        "run_latency_ms": final.get("latency_ms"),
        "emitted": emitted if final.get("status") == "completed" else None,
        "owed": emitted,
        "highest_index_seen": seen - 1,
        "stalled": stalled,
        "deadline_hit": deadline_hit,
        "cancelled": cancelled,
        "go_to_first_token_ms": (_ms(watchers.first_recv - t_go) if watchers.first_recv else None),
        **watch_summary,
        "requester": requester_stats.summary(emitted),
        "loadgen_cpu_s": round(cpu, 3),
        "loadgen_cpu_pct": round(100.0 * cpu / elapsed, 1) if elapsed else None,
    }
    emit("result", **result)
    watchers.closing = requester_stats.closing = True
    await close_all(transports, args.timeout)


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring for the control protocol."""
    parser = argparse.ArgumentParser(description="bench/agents.py load generator (picows)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--agent", default="demo-long")
    parser.add_argument("--connect-concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-connection/handshake")
    parser.add_argument("--quiet", type=float, default=5.0, help="stop after no progress for this")
    parser.add_argument("--deadline", type=float, default=60.0, help="max run time after go")
    args = parser.parse_args(argv)
    return run(args, _run)


if __name__ == "__main__":
    sys.exit(main())
