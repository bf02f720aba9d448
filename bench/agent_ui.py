"""Agent-UI streaming benchmark: one ``demo-long`` run per protocol, read to its end.

For each stream — the native SSE run route (``/execute/stream``, the baseline),
AG-UI (``/ag-ui``) and the AI SDK UI message stream (``/ai-sdk``) — a fresh
``demo-long`` run of ``--tokens`` tokens at ``--rate`` tokens/s is started and
read to its end by one httpx client over loopback. Then the finished run is
reopened from its history (``GET …/runs/{id}/stream``, AG-UI and AI SDK only;
``--reopen-tokens``, a run short enough for the default history of 1,000 events).

Reports per stream: SSE events, bytes, the time from the request to the last
event, delivered tokens/s (the text's tokens ÷ that time), and whether the
whole text arrived; for reopens, the time to replay the run. The gateway
(``python -m praison_push gateway --port 0``) is pinned to one core and this
client to the other; the gateway's CPU % over each stream is sampled with psutil.
It talks over the wire only and never imports ``praison_push``.

Run ``python bench/agent_ui.py --help``; results go to ``bench/results/agent_ui.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx
from _common import (
    RESULTS_DIR,
    BenchError,
    CpuSampler,
    Session,
    add_run_options,
    fmt,
    gateway_command,
    pick_cores,
    render_table,
    serve,
    write_report,
)

DEFAULT_JSON = RESULTS_DIR / "agent_ui.json"
STREAMS = ("execute", "ag-ui", "ai-sdk")


@dataclasses.dataclass
class Plan:
    tokens: int
    rate: float
    reopen_tokens: int
    url: str | None
    server_core: int | None
    loadgen_core: int | None


@dataclasses.dataclass
class Row:
    stream: str
    kind: str  # "live" or "reopen"
    tokens: int
    events: int = 0
    bytes: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    complete: bool = False
    cpu_percent: float | None = None
    error: str | None = None


def _body(stream: str, text: str) -> dict[str, Any]:
    if stream == "ag-ui":
        message = {"id": "m1", "role": "user", "content": text}
        return {"threadId": "bench", "runId": "bench", "messages": [message]}
    if stream == "ai-sdk":
        parts = [{"type": "text", "text": text}]
        return {"id": "bench", "messages": [{"id": "m1", "role": "user", "parts": parts}]}
    return {"input": text}


def _delta(stream: str, payload: dict[str, Any]) -> str:
    if stream == "execute":
        token = payload.get("token")
        return token if isinstance(token, str) else ""
    kind = payload.get("type")
    if kind in ("TEXT_MESSAGE_CONTENT", "text-delta"):
        return str(payload["delta"])
    return ""


def _read(
    http: httpx.Client, method: str, url: str, stream: str, body: Any, tokens: int
) -> tuple[Row, str]:
    row = Row(stream, "live" if method == "POST" else "reopen", tokens)
    text: list[str] = []
    run_id = ""
    started = time.perf_counter()
    with http.stream(method, url, json=body) as response:
        if response.status_code != 200:
            raise BenchError(f"{stream}: HTTP {response.status_code} {response.read()!r}")
        run_id = response.headers.get("x-run-id", "")
        for line in response.iter_lines():
            row.bytes += len(line) + 1
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            row.events += 1
            text.append(_delta(stream, json.loads(line[6:])))
    row.seconds = time.perf_counter() - started
    expected = "".join(f"t{i} " for i in range(tokens))
    row.complete = "".join(text) == expected
    row.tokens_per_s = tokens / row.seconds if row.seconds else 0.0
    return row, run_id


def run_plan(plan: Plan) -> list[Row]:
    rows: list[Row] = []
    with (
        serve("gateway", gateway_command(), plan.server_core, plan.url) as server,
        httpx.Client(timeout=60 + 3 * plan.tokens / plan.rate) as http,
    ):
        base = server.url.replace("ws://", "http://").removesuffix("/ws")
        for tokens, kind in ((plan.tokens, "live"), (plan.reopen_tokens, "reopen")):
            for stream in STREAMS:
                if kind == "reopen" and stream == "execute":
                    continue  # the native route has no reopen
                path = "execute/stream" if stream == "execute" else stream
                url = f"{base}/v1/agents/demo-long/{path}"
                text = f"{tokens}@{plan.rate:g}"
                try:
                    with CpuSampler(server.pid, interval=0.1) as cpu:
                        row, run_id = _read(http, "POST", url, stream, _body(stream, text), tokens)
                        if kind == "reopen":
                            row, _ = _read(
                                http, "GET", f"{url}/runs/{run_id}/stream", stream, None, tokens
                            )
                    if cpu.samples:
                        row.cpu_percent = round(sum(cpu.samples) / len(cpu.samples), 1)
                except (BenchError, httpx.HTTPError) as exc:
                    row = Row(stream, kind, tokens, error=str(exc))
                rows.append(row)
                print(f"  {kind:6} {stream:8} {fmt(row.seconds, 3)} s", flush=True)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = ("stream", "kind", "tokens", "events", "KiB", "s", "tokens/s", "complete", "CPU %")
    lines = [
        (
            row.stream,
            row.kind,
            fmt(row.tokens),
            fmt(row.events),
            fmt(row.bytes / 1024),
            fmt(row.seconds, 3),
            fmt(row.tokens_per_s, 0),
            row.error or ("yes" if row.complete else "NO"),
            fmt(row.cpu_percent),
        )
        for row in rows
    ]
    return "\n".join(render_table(header, lines, left=2))


def _parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, help="tokens of the live run (default 20,000)")
    parser.add_argument("--rate", type=float, help="tokens/s of demo-long (default 20,000)")
    parser.add_argument("--reopen-tokens", type=int, help="tokens of the reopened run (300)")
    parser.add_argument(
        "--url", help="use this running gateway (ws://…/ws) instead of starting one"
    )
    add_run_options(parser, DEFAULT_JSON, "smoke test: 500 tokens at 5,000/s")
    args = parser.parse_args(argv)
    tokens = args.tokens or (500 if args.quick else 20_000)
    rate = args.rate or (5_000.0 if args.quick else 20_000.0)
    if tokens < 1 or rate <= 0:
        parser.error("--tokens must be >= 1 and --rate > 0")
    server_core, loadgen_core = pick_cores(args.no_pin)
    plan = Plan(tokens, rate, args.reopen_tokens or 300, args.url, server_core, loadgen_core)
    return args, plan


def main(argv: Sequence[str] | None = None) -> int:
    """Run once, print the table, write the JSON; exit 1 if a stream failed."""
    args, plan = _parse_args(argv)
    session = Session(plan.server_core, plan.loadgen_core)
    print(f"demo-long: {plan.tokens:,} tokens at {plan.rate:,.0f}/s per stream ...", flush=True)
    try:
        rows = run_plan(plan)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print()
    print(format_table(rows))
    report = {"meta": session.meta(plan), "rows": [dataclasses.asdict(row) for row in rows]}
    write_report(args.json, report)
    return 1 if any(row.error or not row.complete for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
