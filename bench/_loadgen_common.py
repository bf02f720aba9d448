"""Shared plumbing for the load generators (``_loadgen.py``, ``_agents_loadgen.py``).

Everything here is about connections and the control protocol, not about what
a load generator measures:

* the orchestrator reads JSON lines from stdout (``emit``) and sends one-word
  commands on stdin (``Control``); any failure is reported as
  ``{"event": "error", "message": ...}`` with exit status 1 (``run``);
* picows connections are opened with bounded concurrency and a bounded wait for
  each to become ready (``open_ready``, ``open_all``), and closed together at
  the end (``close_all``);
* a control frame (anything the per-delivery fast path does not recognise) is
  answered when it is a close (``answer_close``) and decoded otherwise
  (``json_object``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import resource
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

_T = TypeVar("_T")
_L = TypeVar("_L", bound=WSListener)
_N = TypeVar("_N", int, float)

PONG = b'{"type":"pong"}'
#: At most about this many latencies are kept for percentiles (a stride of deliveries).
LATENCY_SAMPLES = 200_000


def emit(event: str, **fields: Any) -> None:
    """Write one control line for the orchestrator."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def close_code(transport: WSTransport) -> int | None:
    """The close code the server sent, if it sent a close frame."""
    handshake = transport.close_handshake
    if handshake is None or handshake.recv is None:
        return None
    return int(handshake.recv.code.value)


def answer_close(transport: WSTransport, frame: WSFrame) -> bool:
    """Answer a close frame and disconnect; True when ``frame`` was one."""
    if frame.msg_type is not WSMsgType.CLOSE:
        return False
    transport.send_close(WSCloseCode.OK)
    transport.disconnect()
    return True


def json_object(
    payload: bytes, errors: collections.Counter[str] | None = None
) -> dict[str, Any] | None:
    """``payload`` decoded when it is a JSON object, else None.

    An undecodable payload is counted in ``errors`` (when given) as ``"undecodable frame"``.
    """
    try:
        msg = json.loads(payload)
    except ValueError:
        if errors is not None:
            errors["undecodable frame"] += 1
        return None
    return msg if isinstance(msg, dict) else None


def percentile(sorted_values: Sequence[_N], q: float) -> _N | None:
    """The ``q`` quantile (nearest rank) of ``sorted_values``; None when there are none."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def connect(factory: Callable[[], _L], url: str, timeout: float) -> tuple[WSTransport, _L]:
    """``ws_connect`` keeping the listener's concrete type."""
    transport, listener = await ws_connect(factory, url, websocket_handshake_timeout=timeout)
    return transport, cast("_L", listener)


async def bounded_gather(
    factories: Iterable[Callable[[], Awaitable[_T]]], limit: int
) -> list[_T | BaseException]:
    """Run coroutine factories with at most ``limit`` in flight (keeps the accept backlog sane)."""
    sem = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[_T]]) -> _T:
        async with sem:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories), return_exceptions=True)


async def open_ready(
    factory: Callable[[], _L],
    ready: Callable[[_L], Awaitable[object]],
    args: argparse.Namespace,
    transports: list[WSTransport],
    url: str | None = None,
) -> WSTransport:
    """Connect to ``url`` (default ``--url``) and wait for ``ready(listener)``, each
    bounded by ``--timeout``.

    The transport goes into ``transports`` as soon as it is open, so that
    ``close_all`` closes it even if it never became ready.
    """
    transport, listener = await connect(factory, url or args.url, args.timeout)
    transports.append(transport)
    await asyncio.wait_for(ready(listener), args.timeout)
    return transport


async def open_all(
    what: str,
    count: int,
    factory: Callable[[], _L],
    ready: Callable[[_L], Awaitable[object]],
    args: argparse.Namespace,
    transports: list[WSTransport],
    url_of: Callable[[int], str] | None = None,
) -> None:
    """``open_ready`` ``count`` times, ``--connect-concurrency`` at a time; any failure raises.

    ``url_of(n)`` gives connection ``n`` its URL (``--url`` for all by default).
    """

    def one(n: int) -> Callable[[], Awaitable[WSTransport]]:
        url = None if url_of is None else url_of(n)
        return lambda: open_ready(factory, ready, args, transports, url)

    outcomes = await bounded_gather([one(n) for n in range(count)], args.connect_concurrency)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise RuntimeError(f"{len(failures)} {what} failed, first: {failures[0]!r}")


class DeliveryCounters:
    """What a group of receiving connections counts, whatever the deliveries are.

    Subclasses add what their deliveries carry; the per-delivery fast paths
    update these attributes inline.
    """

    def __init__(self, expected: int) -> None:
        self.received = 0
        self.duplicates = 0
        self.out_of_range = 0
        self.slow_path = 0
        self.bad_frames = 0
        self.errors: collections.Counter[str] = collections.Counter()
        #: One latency is kept per this many sequence numbers (``LATENCY_SAMPLES`` at most).
        self.latency_stride = max(1, expected // LATENCY_SAMPLES)
        self.closing = False
        self.unexpected_disconnects = 0
        self.close_codes: collections.Counter[str] = collections.Counter()

    def disconnected(self, transport: WSTransport) -> bool:
        """Count a disconnect that came before ``closing`` was set; True when it was one."""
        if self.closing:
            return False
        self.unexpected_disconnects += 1
        self.close_codes[str(close_code(transport))] += 1
        return True


class Control:
    """Commands from the orchestrator, read from stdin without blocking the loop."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    @classmethod
    async def open(cls) -> Control:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        return cls(reader)

    async def expect(self, command: str, timeout: float) -> None:
        line = await asyncio.wait_for(self._reader.readline(), timeout)
        if line.strip().decode() != command:
            raise RuntimeError(f"expected {command!r} from the orchestrator, got {line!r}")


async def close_all(transports: list[WSTransport], timeout: float) -> None:
    for transport in transports:
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()
    waits = [t.wait_disconnected() for t in transports]
    if waits:
        await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), timeout)


def run(
    args: argparse.Namespace,
    scenario: Callable[[argparse.Namespace, Control], Awaitable[None]],
) -> int:
    """Raise RLIMIT_NOFILE to the hard limit and run ``scenario`` on a fresh event loop.

    Returns the exit status: 0, or 1 after reporting the failure as an ``error`` line.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def main_async() -> None:
        await scenario(args, await Control.open())

    try:
        asyncio.run(main_async())
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        return 1
    return 0
