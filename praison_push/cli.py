"""The ``praison-push`` command line: run a gateway, publish, subscribe, presence, run agents.

Client commands read ``--url``/``--token`` from ``PRAISON_PUSH_URL`` /
``PRAISON_PUSH_TOKEN`` when not given, and fail with one line on stderr and a
non-zero exit when the gateway is unreachable or refuses them.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import ipaddress
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .config import AuthConfig, GatewayConfig

if TYPE_CHECKING:
    from .client import ExecutionEvent
    from .sync import PushClient, SyncExecution

__all__ = ["main"]

DEFAULT_URL = "ws://127.0.0.1:8765/ws"


def encode_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _print(line: str) -> None:
    # One write per line: callbacks print from another thread, and print()'s
    # separate newline write would let their lines run together.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _fail(message: str, code: int = 1) -> int:
    print(f"praison-push: error: {message}", file=sys.stderr, flush=True)
    return code


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- commands ------------------------------------------------------------------


def _cmd_gateway(args: argparse.Namespace) -> int:
    from .server import run_gateway

    config = GatewayConfig(host=args.host, port=args.port, auth=AuthConfig(tokens=args.token or []))
    if not args.token and not _is_loopback(args.host):
        print(
            "praison-push: warning: serving without a token on a non-loopback address; "
            "pass --token",
            file=sys.stderr,
            flush=True,
        )
    # uvicorn re-raises Ctrl-C after its graceful shutdown: for us that is a normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        run_gateway(config, on_ready=lambda url: _print(f"praison-push gateway listening on {url}"))
    _print("praison-push gateway stopped")
    return 0


def _client(args: argparse.Namespace) -> PushClient:
    from .sync import PushClient

    client = PushClient(
        args.url, auth_token=args.token, auto_reconnect=False, fallback_to_polling=False
    )
    client.connect()
    return client


def _cmd_publish(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data)
    except ValueError as exc:
        return _fail(f"DATA is not valid JSON: {exc}", 2)
    with _client(args) as client:
        receipt = client.publish(args.channel, data)
    _print(
        encode_json(
            {
                "channel": receipt.channel,
                "event_id": receipt.event_id,
                "delivered": receipt.delivered,
            }
        )
    )
    return 0


def _cmd_subscribe(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for count, message in enumerate(client.messages(args.channel, timeout=args.timeout), 1):
            _print(encode_json(message.to_dict()))
            if args.count and count >= args.count:
                break
    return 0


def _cmd_presence(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for entry in client.get_presence(args.channel):
            _print(encode_json(entry.to_dict()))
    return 0


def _cmd_execute(args: argparse.Namespace) -> int:
    """Run an agent: its answer streams to stdout, tool calls go to stderr.

    Keeping stdout to the answer alone makes ``praison-push execute … > answer.txt``
    (or a pipe) carry just the text; ``--json`` prints every event instead.
    """
    text = sys.stdin.read() if args.input == "-" else args.input
    with _client(args) as client:
        execution = client.execute(args.agent, text, session_id=args.session)
        printer: _EventPrinter = _JsonPrinter() if args.json else _RunPrinter()
        try:
            for event in execution:
                printer.show(event)
        except KeyboardInterrupt:
            printer.finish()
            _cancel_quietly(execution)
            raise
        printer.finish()
        if execution.status == "completed":
            return 0
        error = execution.error or {}
        message = " ".join(f"{error.get('code')}: {error.get('message')}".split())
        return _fail(f"run {execution.execution_id} {execution.status}: {message}")


def _cancel_quietly(execution: SyncExecution) -> None:
    """Ctrl-C: the run would go on without us, so cancel it (a second Ctrl-C skips that)."""
    from .client import PushError

    with contextlib.suppress(PushError, TimeoutError, KeyboardInterrupt):
        execution.cancel()


class _EventPrinter(abc.ABC):
    @abc.abstractmethod
    def show(self, event: ExecutionEvent) -> None:
        """Print one run event."""

    def finish(self) -> None:  # noqa: B027 - most printers have nothing to end
        """End the output cleanly (also after Ctrl-C)."""


class _JsonPrinter(_EventPrinter):
    def show(self, event: ExecutionEvent) -> None:
        _print(encode_json(event.to_dict()))


class _RunPrinter(_EventPrinter):
    """Tokens to stdout as they arrive; ``⚙ tool {args} → result`` lines to stderr."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        from .client.transcript import RunPrinter

        self._printer = RunPrinter(out or sys.stdout, err or sys.stderr)

    def show(self, event: ExecutionEvent) -> None:
        self._printer.show(event.kind, event.data)

    def finish(self) -> None:
        self._printer.finish()


def _cmd_demo(args: argparse.Namespace) -> int:
    """Start an in-process gateway, connect two clients, show pub/sub and presence."""

    from .server import GatewayThread
    from .sync import PushClient

    with GatewayThread(GatewayConfig(port=0)) as gateway:
        _print(f"gateway listening on {gateway.url}")
        with (
            PushClient(gateway.url, client_id="alice") as alice,
            PushClient(gateway.url, client_id="bob") as bob,
        ):
            alice.set_status("online", {"role": "reader"})
            bob.set_status("busy", {"role": "writer"})
            inbox = alice.messages("alerts", timeout=10)
            bob.subscribe("alerts")
            receipt = bob.publish("alerts", {"level": "high", "text": "disk almost full"})
            _print(f"bob published to alerts, delivered to {receipt.delivered} subscriber(s)")
            message = next(iter(inbox), None)
            if message is None:
                return _fail("the demo message did not arrive")
            _print(f"alice received on {message.channel}: {encode_json(message.data)}")
            for entry in alice.get_presence("alerts"):
                _print(
                    f"presence: {entry.client_id} is {entry.status} {encode_json(entry.metadata)}"
                )
    _print("demo finished")
    return 0


# --- parser ---------------------------------------------------------------------


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("PRAISON_PUSH_URL", DEFAULT_URL),
        help="gateway WebSocket URL (env PRAISON_PUSH_URL; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("PRAISON_PUSH_TOKEN"),
        help="auth token (env PRAISON_PUSH_TOKEN)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and shell completion)."""
    parser = argparse.ArgumentParser(prog="praison-push", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    gateway = commands.add_parser("gateway", help="run a gateway in the foreground")
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    gateway.add_argument("--token", action="append", help="accepted token (repeatable)")
    gateway.set_defaults(run=_cmd_gateway)

    publish = commands.add_parser("publish", help="publish one JSON message")
    publish.add_argument("channel")
    publish.add_argument("data", help="the message, as JSON")
    _add_client_options(publish)
    publish.set_defaults(run=_cmd_publish)

    subscribe = commands.add_parser("subscribe", help="print a channel's messages as JSON lines")
    subscribe.add_argument("channel")
    subscribe.add_argument("--count", type=int, default=0, help="exit after N messages")
    subscribe.add_argument("--timeout", type=float, default=None, help="exit after S idle seconds")
    _add_client_options(subscribe)
    subscribe.set_defaults(run=_cmd_subscribe)

    presence = commands.add_parser("presence", help="list connected clients")
    presence.add_argument("--channel", default=None)
    _add_client_options(presence)
    presence.set_defaults(run=_cmd_presence)

    execute = commands.add_parser(
        "execute", help="run an agent: stream its answer to stdout, tool calls to stderr"
    )
    execute.add_argument("agent", help="agent id (demo agents: echo, demo-weather, demo-long)")
    execute.add_argument("input", help="the agent's input ('-' reads it from stdin)")
    execute.add_argument("--session", default=None, help="session id (conversation memory)")
    execute.add_argument("--json", action="store_true", help="print every event as a JSON line")
    _add_client_options(execute)
    execute.set_defaults(run=_cmd_execute)

    demo = commands.add_parser("demo", help="start a gateway, show pub/sub and presence, exit")
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except TimeoutError:
        return _fail("timed out waiting for the gateway")
    except Exception as exc:
        from .client import PushError

        if not isinstance(exc, PushError):
            raise
        return _fail(_describe(exc, args))


def _describe(exc: Exception, args: Any) -> str:
    from .client import AuthenticationFailed, TransportError

    if isinstance(exc, AuthenticationFailed):
        return f"the gateway refused the token ({exc.message})"
    if isinstance(exc, TransportError):
        return f"cannot reach the gateway ({exc})"
    return str(exc)
