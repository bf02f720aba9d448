"""The ``praison-push`` command line: run a gateway, publish, subscribe, presence, run agents.

Client commands read ``--url``/``--token`` from ``PRAISON_PUSH_URL`` /
``PRAISON_PUSH_TOKEN`` when not given, and so does ``praison-push gateway`` its
``--token``. Every failure is one line on stderr (``praison-push: error: …``)
and a non-zero exit: 1 for a failure, 2 for a usage mistake, 130 for Ctrl-C; a
closed pipe (``… | head``) ends quietly with 0, as Unix tools do.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..config import GatewayConfig
from ._common import UsageProblem, encode_json, fail, out
from .gateway import TOKEN_ENV, URL_ENV, cmd_gateway

if TYPE_CHECKING:
    from ..client import ChannelMessage, ExecutionEvent
    from ..sync import PushClient, SyncExecution

__all__ = ["build_parser", "main"]

DEFAULT_URL = "ws://127.0.0.1:8765/ws"


# --- client commands --------------------------------------------------------------------


def _client(args: argparse.Namespace) -> PushClient:
    from ..sync import PushClient

    client = PushClient(
        args.url, auth_token=args.token, auto_reconnect=False, fallback_to_polling=False
    )
    client.connect()
    return client


def _read_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageProblem(f"{what} is not valid JSON: {exc}") from None


def _cmd_publish(args: argparse.Namespace) -> int:
    data = _read_json(sys.stdin.read() if args.data == "-" else args.data, "DATA")
    with _client(args) as client:
        receipt = client.publish(args.channel, data)
    out(
        encode_json(
            {
                "channel": receipt.channel,
                "event_id": receipt.event_id,
                "offset": receipt.offset,
                "delivered": receipt.delivered,
            }
        )
    )
    return 0


def _history_since(
    client: PushClient, channel: str, since: int, limit: int | None
) -> list[ChannelMessage]:
    """The channel's kept messages after offset ``since`` (oldest first)."""
    latest = client.history(channel, limit=1)
    if not latest or latest[-1].epoch is None:
        return []
    position = {"offset": since, "epoch": latest[-1].epoch}
    return client.history(channel, since=position, limit=limit)


def _cmd_history(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.since is None:
            messages = client.history(args.channel, limit=args.limit)
        else:
            messages = _history_since(client, args.channel, args.since, args.limit)
    for message in messages:
        out(encode_json(message.to_dict()))
    return 0


def _cmd_subscribe(args: argparse.Namespace) -> int:
    with _client(args) as client:
        live = client.messages(args.channel, timeout=args.timeout)  # subscribed from here on
        backlog = (
            [] if args.since is None else _history_since(client, args.channel, args.since, None)
        )
        for count, message in enumerate(_no_repeats(backlog, live), 1):
            out(encode_json(message.to_dict()))
            if args.count and count >= args.count:
                break
    return 0


def _no_repeats(
    backlog: list[ChannelMessage], live: Iterator[ChannelMessage]
) -> Iterator[ChannelMessage]:
    """The backlog, then the live messages it does not already hold."""
    seen = {message.event_id for message in backlog if message.event_id}
    yield from backlog
    for message in live:
        if not message.event_id or message.event_id not in seen:
            yield message


def _cmd_presence(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for entry in client.get_presence(args.channel):
            if entry.client_id != client.client_id:  # this command's own connection
                out(encode_json(entry.to_dict()))
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
        return fail(f"run {execution.execution_id} {execution.status}: {message}")


def _cmd_approve(args: argparse.Namespace) -> int:
    """Answer a paused run's approval request (as its requester: use the same token)."""
    with _client(args) as client:
        answered = client.approve(
            args.execution_id, args.tool_call_id, not args.deny, args.reason or None
        )
    if not answered:
        return fail(f"no approval request of {args.execution_id} waits for {args.tool_call_id}")
    out("denied" if args.deny else "approved")
    return 0


def _cancel_quietly(execution: SyncExecution) -> None:
    """Ctrl-C: the run would go on without us, so cancel it (a second Ctrl-C skips that)."""
    from ..client import PushError

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
        out(encode_json(event.to_dict()))


class _RunPrinter(_EventPrinter):
    """Tokens to stdout as they arrive; ``⚙ tool {args} → result`` lines to stderr."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        from ..client.transcript import RunPrinter

        self._printer = RunPrinter(out or sys.stdout, err or sys.stderr)

    def show(self, event: ExecutionEvent) -> None:
        self._printer.show(event.kind, event.data)

    def finish(self) -> None:
        self._printer.finish()


def _cmd_demo(args: argparse.Namespace) -> int:
    """Start an in-process gateway, connect two clients, show pub/sub and presence."""

    from ..server import GatewayThread
    from ..sync import PushClient

    with GatewayThread(GatewayConfig(port=0)) as gateway:
        out(f"gateway listening on {gateway.url}")
        with (
            PushClient(gateway.url, client_id="alice") as alice,
            PushClient(gateway.url, client_id="bob") as bob,
        ):
            alice.set_status("online", {"role": "reader"})
            bob.set_status("busy", {"role": "writer"})
            inbox = alice.messages("alerts", timeout=10)
            bob.subscribe("alerts")
            receipt = bob.publish("alerts", {"level": "high", "text": "disk almost full"})
            out(f"bob published to alerts, delivered to {receipt.delivered} subscriber(s)")
            message = next(iter(inbox), None)
            if message is None:
                return fail("the demo message did not arrive")
            out(f"alice received on {message.channel}: {encode_json(message.data)}")
            for entry in alice.get_presence("alerts"):
                out(f"presence: {entry.client_id} is {entry.status} {encode_json(entry.metadata)}")
    out("demo finished")
    return 0


# --- parser ---------------------------------------------------------------------


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, unless there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.dest == "token":  # a secret from the environment: never shown
            return action.help
        if action.default in (None, False, 0, "") or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"the gateway's WebSocket URL (env {URL_ENV})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"the gateway's token (env {TOKEN_ENV}; never printed)",
    )


def _command(
    commands: Any, name: str, summary: str, description: str, run: Callable[..., int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description, formatter_class=_Help
    )
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and shell completion)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("praison-push")
    except PackageNotFoundError:  # run from a source tree that was never installed
        __version__ = "unknown"
    parser = argparse.ArgumentParser(
        prog="praison-push", description=__doc__, formatter_class=_Help
    )
    parser.add_argument("--version", action="version", version=f"praison-push {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gateway = _command(
        commands,
        "gateway",
        "run a gateway in the foreground",
        "Serve a gateway until Ctrl-C or SIGTERM. It says at start whether clients need a "
        "token. The demo agents (echo, demo-weather, demo-long) are always there.",
        cmd_gateway,
    )
    gateway.add_argument(
        "--host",
        default=None,
        help="address to listen on (default: from PRAISON_PUSH_URL, else 127.0.0.1)",
    )
    gateway.add_argument(
        "--port",
        type=int,
        default=None,
        help="port to listen on, 0 picks one (default: from PRAISON_PUSH_URL, else 8765)",
    )
    gateway.add_argument(
        "--token",
        action="append",
        help=f"a token clients must present (repeatable; default: env {TOKEN_ENV}, else none)",
    )
    gateway.add_argument(
        "--insecure",
        action="store_true",
        help="serve without a token on a non-loopback address (refused otherwise)",
    )
    gateway.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser origin allowed besides the gateway's own and localhost "
        "(scheme://host[:port|:*], or * for any; repeatable)",
    )
    gateway.add_argument(
        "--allow-host",
        action="append",
        metavar="HOST",
        help="a Host name allowed besides loopback names, e.g. the public name a reverse "
        "proxy on this machine forwards (repeatable; * turns the check off)",
    )
    gateway.add_argument(
        "--redis-url",
        default=None,
        help="scale out over this Redis (redis://host:6379/0; needs the redis extra)",
    )
    gateway.add_argument(
        "--store",
        default=None,
        metavar="STORE",
        help="where pending deliveries live: memory (default), sqlite:PATH (survives restarts), "
        "redis (shared by gateways; with --redis-url)",
    )
    gateway.add_argument(
        "--no-delivery",
        action="store_true",
        help="plain pub/sub: no acknowledged delivery (no tracking, no redelivery)",
    )
    gateway.add_argument(
        "--agents",
        action="append",
        metavar="MODULE:ATTR",
        help="register your agents: a dict of agents, or one agent named ATTR (repeatable)",
    )
    gateway.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much the gateway logs to stderr",
    )

    publish = _command(
        commands,
        "publish",
        "publish one JSON message",
        "Publish one message and print the gateway's receipt as a JSON line.",
        _cmd_publish,
    )
    publish.add_argument("channel", help="the channel to publish on")
    publish.add_argument("data", help="the message as JSON; '-' reads it from stdin")
    _add_client_options(publish)

    subscribe = _command(
        commands,
        "subscribe",
        "print a channel's messages as JSON lines",
        "Print each message of a channel as one JSON line, as they arrive.",
        _cmd_subscribe,
    )
    subscribe.add_argument("channel", help="the channel to follow")
    subscribe.add_argument("--count", type=int, default=0, help="exit after N messages (0: never)")
    subscribe.add_argument("--timeout", type=float, default=None, help="exit after S idle seconds")
    subscribe.add_argument(
        "--since",
        type=_non_negative,
        default=None,
        metavar="OFFSET",
        help="first replay the kept messages after OFFSET (0: all of them)",
    )
    _add_client_options(subscribe)

    history = _command(
        commands,
        "history",
        "print a channel's kept messages as JSON lines",
        "Print the messages the gateway keeps for a channel, oldest first.",
        _cmd_history,
    )
    history.add_argument("channel", help="whose history")
    history.add_argument(
        "--since", type=_non_negative, default=None, metavar="OFFSET", help="only after OFFSET"
    )
    history.add_argument("--limit", type=int, default=None, help="at most N messages (1-10000)")
    _add_client_options(history)

    presence = _command(
        commands,
        "presence",
        "list connected clients",
        "Print who is connected (to a channel, or to the gateway) as JSON lines. This "
        "command's own connection is left out.",
        _cmd_presence,
    )
    presence.add_argument("--channel", default=None, help="only the clients on this channel")
    _add_client_options(presence)

    execute = _command(
        commands,
        "execute",
        "run an agent: its answer to stdout, tool calls to stderr",
        "Run an agent and stream its answer to stdout as it comes; tool calls go to stderr, "
        "so '> answer.txt' keeps just the answer. Ctrl-C cancels the run.",
        _cmd_execute,
    )
    execute.add_argument("agent", help="agent id (demo agents: echo, demo-weather, demo-long)")
    execute.add_argument("input", help="the agent's input ('-' reads it from stdin)")
    execute.add_argument("--session", default=None, help="session id (conversation memory)")
    execute.add_argument("--json", action="store_true", help="print every event as a JSON line")
    _add_client_options(execute)

    approve = _command(
        commands,
        "approve",
        "answer a run's approval request",
        "Approve (or, with --deny, deny) the tool call a paused run waits on. Only the "
        "run's requester (the same token) or a configured approver may answer.",
        _cmd_approve,
    )
    approve.add_argument("execution_id", help="the run (exec_…)")
    approve.add_argument("tool_call_id", help="the tool call it waits on")
    approve.add_argument("--deny", action="store_true", help="deny instead of approving")
    approve.add_argument("--reason", default=None, help="why (the agent sees it)")
    _add_client_options(approve)

    _command(
        commands,
        "demo",
        "start a gateway, show pub/sub and presence, exit",
        "A gateway on embedded defaults and two clients: a message and presence, in a second.",
        _cmd_demo,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BrokenPipeError:
        _quiet_stdout()  # `… | head` closed the pipe: done, as Unix tools are
        return 0
    except KeyboardInterrupt:
        return 130
    except UsageProblem as exc:
        return fail(str(exc), 2)
    except TimeoutError:
        return fail("timed out waiting for the gateway")
    except Exception as exc:
        from ..client import PushError

        if isinstance(exc, PushError):
            return fail(_describe(exc))
        if isinstance(exc, (ValueError, TypeError)):  # an argument the client refused
            return fail(str(exc), 2)
        raise


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _describe(exc: Exception) -> str:
    from ..client import AuthenticationFailed

    if isinstance(exc, AuthenticationFailed):
        return f"the gateway refused the token ({exc.message})"
    return str(exc)  # transport errors name the URL and the cause themselves
