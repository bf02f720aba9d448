"""Token streaming into a notebook widget: ``TokenStream`` against the naive way.

A fake run emits tokens on a thread at ``--rate`` (2,000/s) for ``--seconds``
(10), then completes. The same stream feeds, one after the other, in one
process:

* ``TokenStream`` — praison_push's widget: coalesced deltas (≤ 20/s), a
  snapshot at the end of the run;
* the naive widget — an ``ipywidgets.Textarea`` (or ``HTML`` with
  ``--naive html``) whose ``value`` is set to the whole text on every token;
* a baseline — the same feed with a handler that does nothing, to tell the
  widget's CPU from the feeder's.

Both widgets go through the real ipywidgets machinery down to the comm; the
comm is a fake that serialises every message with a real ``jupyter_client``
``Session`` (what ipykernel puts on the IOPub socket: header, metadata,
content, HMAC signature) and records its size instead of sending it. So
"messages" and "bytes" are what a kernel would push to the browser. CPU is the
process time of this (kernel-side) process during the run.

    python bench/widgets.py            # 2,000 tokens/s for 10 s
    python bench/widgets.py --quick    # 2 s (smoke test)
    python bench/widgets.py --rate 5000 --seconds 5 --naive html

Prints a table and writes ``bench/results/widgets.json`` (``--json PATH``).
Jupyter Server drops IOPub output beyond 1,000 messages/s or 1 MB/s (its
default ``iopub_msg_rate_limit`` / ``iopub_data_rate_limit``); the table says
whether each approach stays under both.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import comm
import ipywidgets
from comm.base_comm import BaseComm
from jupyter_client.session import Session

from praison_push.notebook.widgets import TokenStream, get_flusher

RESULTS = Path(__file__).resolve().parent / "results"
#: Jupyter Server's defaults (``ServerApp.iopub_msg_rate_limit`` / ``iopub_data_rate_limit``).
IOPUB_MSG_LIMIT = 1_000
IOPUB_DATA_LIMIT = 1_000_000
#: Tokens as a model streams them: short words with their leading space.
WORDS = (
    "The",
    "weather",
    "in",
    "Paris",
    "is",
    "mild",
    "today",
    ",",
    "with",
    "light",
    "winds",
    "from",
    "the",
    "west",
    "and",
    "a",
    "chance",
    "of",
    "rain",
    "later",
    "in",
    "the",
    "evening",
    ".",
    "Temperatures",
    "will",
    "reach",
    "18",
    "degrees",
    "before",
    "falling",
)


# --- a comm that measures instead of sending ------------------------------------------------


class Wire:
    """Every message the widgets would put on IOPub: count and serialised size."""

    def __init__(self) -> None:
        self.session = Session(key=b"bench-key", username="kernel")
        self.lock = threading.Lock()
        self.recording = False
        self.messages = 0
        self.bytes = 0
        self.largest = 0
        self.sizes: list[tuple[float, int, str]] = []

    def record(self, msg_type: str, content: dict[str, Any], buffers: Any, topic: bytes) -> None:
        message = self.session.msg(msg_type, content)
        frames = self.session.serialize(message, ident=topic)
        size = sum(len(frame) for frame in frames) + sum(len(b) for b in buffers or [])
        kind = str((content.get("data") or {}).get("method", msg_type))
        with self.lock:
            if not self.recording:
                return
            self.messages += 1
            self.bytes += size
            self.largest = max(self.largest, size)
            self.sizes.append((time.monotonic(), size, kind))

    def start(self) -> None:
        with self.lock:
            self.recording = True
            self.messages = self.bytes = self.largest = 0
            self.sizes = []

    def stop(self) -> None:
        with self.lock:
            self.recording = False


WIRE = Wire()


class RecordingComm(BaseComm):
    """A primary comm whose messages are serialised and measured, not sent."""

    kernel = object()  # ipywidgets only sends through a comm with a kernel

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        content = {"data": data or {}, "comm_id": self.comm_id, **keys}
        WIRE.record(msg_type, content, buffers, self.topic)


comm.create_comm = RecordingComm  # what ipywidgets calls to open a widget's comm


# --- a run on a thread -------------------------------------------------------------------------


class PacedRun:
    """A run handle (``subscribe`` contract) whose tokens come from a thread at a fixed rate."""

    execution_id = "exec_bench"
    agent_id = "bench"
    status = "running"

    def __init__(self, rate: float, seconds: float) -> None:
        self.rate = rate
        self.count = int(rate * seconds)
        self.callbacks: list[Callable[[Any], None]] = []
        self.emitted = 0
        self.elapsed = 0.0

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        self.callbacks.append(callback)
        return callback

    def _emit(self, data: dict[str, Any]) -> None:
        data["execution_id"] = self.execution_id
        data["agent_id"] = self.agent_id
        for callback in self.callbacks:
            callback(data)

    def run(self) -> None:
        """Emit start, the tokens (paced), and complete; on the calling thread."""
        pieces: list[str] = []
        started = time.monotonic()
        self._emit({"event": "execution_start", "status": "running"})
        for index in range(self.count):
            token = (" " if index else "") + WORDS[index % len(WORDS)]
            pieces.append(token)
            self._emit({"event": "execution_token", "token": token, "index": index})
            self.emitted += 1
            if index % 10 == 9:
                ahead = started + (index + 1) / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        self.elapsed = time.monotonic() - started
        self._emit(
            {
                "event": "execution_complete",
                "status": "completed",
                "output": "".join(pieces),
                "usage": {"prompt_tokens": 5, "completion_tokens": self.count},
                "latency_ms": round(self.elapsed * 1000),
            }
        )


# --- one measured run ----------------------------------------------------------------------------


@dataclass
class Row:
    approach: str
    tokens: int
    seconds: float
    tokens_per_s: float
    messages: int
    messages_per_s: float
    bytes: int
    bytes_per_token: float
    bytes_per_s: float
    largest_message: int
    cpu_s: float
    cpu_percent: float
    under_iopub_limits: bool
    details: dict[str, Any] = field(default_factory=dict)


def measure(approach: str, rate: float, seconds: float, attach: Callable[[PacedRun], Any]) -> Row:
    run = PacedRun(rate, seconds)
    widget = attach(run)
    WIRE.start()
    cpu0, wall0 = time.process_time(), time.monotonic()
    feeder = threading.Thread(target=run.run, name="bench-feeder")
    feeder.start()
    feeder.join()
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    WIRE.stop()
    details: dict[str, Any] = {}
    deltas = [size for _, size, kind in WIRE.sizes if kind == "custom"]
    if deltas:
        tenth = max(1, len(deltas) // 10)
        details["first_deltas_mean_bytes"] = round(sum(deltas[:tenth]) / tenth)
        details["last_deltas_mean_bytes"] = round(sum(deltas[-tenth:]) / tenth)
        details["snapshots"] = sum(1 for *_, kind in WIRE.sizes if kind == "update")
    busiest = busiest_second(WIRE.sizes)
    details["busiest_second_messages"], details["busiest_second_bytes"] = busiest
    if widget is not None:
        details["text_chars"] = len(getattr(widget, "text", "") or getattr(widget, "value", ""))
        widget.close()
    messages, data = WIRE.messages, WIRE.bytes
    return Row(
        approach=approach,
        tokens=run.emitted,
        seconds=round(wall, 3),
        tokens_per_s=round(run.emitted / run.elapsed, 1) if run.elapsed else 0.0,
        messages=messages,
        messages_per_s=round(messages / wall, 1),
        bytes=data,
        bytes_per_token=round(data / max(run.emitted, 1), 1),
        bytes_per_s=round(data / wall),
        largest_message=WIRE.largest,
        cpu_s=round(cpu, 3),
        cpu_percent=round(100 * cpu / wall, 1),
        under_iopub_limits=busiest[0] <= IOPUB_MSG_LIMIT and busiest[1] <= IOPUB_DATA_LIMIT,
        details=details,
    )


def busiest_second(sizes: list[tuple[float, int, str]]) -> tuple[int, int]:
    """Most messages and most bytes sent within any one-second window."""
    most_messages = most_bytes = 0
    start = total = 0
    for end, (at, size, _) in enumerate(sizes):
        total += size
        while sizes[start][0] < at - 1.0:
            total -= sizes[start][1]
            start += 1
        most_messages = max(most_messages, end - start + 1)
        most_bytes = max(most_bytes, total)
    return most_messages, most_bytes


def attach_ours(run: PacedRun) -> TokenStream:
    return TokenStream(run)


def attach_naive(kind: str) -> Callable[[PacedRun], Any]:
    def attach(run: PacedRun) -> Any:
        widget = ipywidgets.Textarea() if kind == "textarea" else ipywidgets.HTML()
        pieces: list[str] = []

        def on_event(event: dict[str, Any]) -> None:
            token = event.get("token")
            if isinstance(token, str):
                pieces.append(token)
                widget.value = "".join(pieces)

        run.subscribe(on_event)
        return widget

    return attach


def attach_nothing(run: PacedRun) -> None:
    run.subscribe(lambda event: None)


# --- report --------------------------------------------------------------------------------------


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)  # pragma: no cover


def table(rows: list[Row]) -> str:
    header = (
        f"{'approach':<22} {'tokens':>7} {'tok/s':>7} {'msgs':>7} {'msgs/s':>7} {'bytes':>9} "
        f"{'B/token':>8} {'max msg':>9} {'CPU s':>6} {'CPU %':>6}  IOPub limits"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        limits = "ok" if r.under_iopub_limits else "EXCEEDED"
        if r.approach.startswith("baseline"):
            limits = "-"
        lines.append(
            f"{r.approach:<22} {r.tokens:>7} {r.tokens_per_s:>7.0f} {r.messages:>7} "
            f"{r.messages_per_s:>7.1f} {human(r.bytes):>9} {r.bytes_per_token:>8.1f} "
            f"{human(r.largest_message):>9} {r.cpu_s:>6.2f} {r.cpu_percent:>6.1f}  {limits}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="tokens per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the stream")
    parser.add_argument("--quick", action="store_true", help="a 2 s stream (smoke test)")
    parser.add_argument("--naive", choices=("textarea", "html"), default="textarea")
    parser.add_argument("--json", type=Path, default=RESULTS / "widgets.json")
    args = parser.parse_args(argv)
    seconds = 2.0 if args.quick else args.seconds
    naive = f"naive {args.naive.capitalize()}"
    print(f"{args.rate:.0f} tokens/s for {seconds:.0f} s into each widget …", flush=True)
    rows = [
        measure("baseline (no widget)", args.rate, seconds, attach_nothing),
        measure("praison TokenStream", args.rate, seconds, attach_ours),
        measure(naive, args.rate, seconds, attach_naive(args.naive)),
    ]
    base = rows[0].cpu_s
    for row in rows[1:]:
        row.details["cpu_s_over_baseline"] = round(row.cpu_s - base, 3)
    print(table(rows))
    ours, theirs = rows[1], rows[2]
    print(
        f"\nTokenStream: {ours.messages_per_s:.0f} msgs/s, "
        f"{ours.bytes_per_token:.0f} B/token (first deltas "
        f"{ours.details.get('first_deltas_mean_bytes')} B, last "
        f"{ours.details.get('last_deltas_mean_bytes')} B), "
        f"{ours.details['cpu_s_over_baseline']:.2f} CPU s over baseline.\n"
        f"{naive}: {theirs.messages / max(ours.messages, 1):.0f}x the messages, "
        f"{theirs.bytes / max(ours.bytes, 1):.0f}x the bytes, "
        f"{theirs.details['cpu_s_over_baseline']:.2f} CPU s over baseline."
    )
    report = {
        "benchmark": "widgets",
        "meta": {
            "rate": args.rate,
            "seconds": seconds,
            "quick": args.quick,
            "naive": args.naive,
            "flush_interval_s": get_flusher().interval,
            "python": platform.python_version(),
            "ipywidgets": ipywidgets.__version__,
            "iopub_limits": {"messages_per_s": IOPUB_MSG_LIMIT, "bytes_per_s": IOPUB_DATA_LIMIT},
        },
        "rows": [asdict(row) for row in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
