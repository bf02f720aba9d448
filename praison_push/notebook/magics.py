"""``%push`` and ``%%push``: pub/sub, presence and agent runs from notebook cells.

Which gateway the magics talk to: the one named by ``%push connect URL``;
else ``PRAISON_PUSH_URL`` (and ``PRAISON_PUSH_TOKEN``) from the environment;
else an in-process gateway, started on first use (``start_gateway()``).

::

    %load_ext praison_push
    %push gateway start|stop|status
    %push connect ws://host:8765/ws [--token T]
    %%push alerts [--json] [-o receipt]      ← publishes the cell body
    %push subscribe alerts [--limit 50]      ← a live ChannelLog
    %push presence [alerts]                  ← a live PresenceList
    %%push execute demo-weather              ← runs the agent on the cell body
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..client import PushError
from . import errors
from .display import show
from .gateway import NotebookClient, NotebookExecution, NotebookGateway, start_gateway

__all__ = ["MAGICS_CLIENT_ID", "MagicError", "PushMagics"]

#: The client id the magics use on the in-process gateway (shown in presence lists).
MAGICS_CLIENT_ID = "notebook"

_USAGE = (
    "usage: %push gateway start|stop|status | %push connect URL [--token T] | "
    "%push subscribe CHANNEL [--limit N] | %push presence [CHANNEL] | "
    "%%push CHANNEL [--json] [-o VAR] | %%push execute AGENT"
)
_MISSING_COMMAND = (
    "%push needs a command: gateway start|stop|status, connect URL, subscribe CHANNEL "
    "or presence [CHANNEL] (and %%push CHANNEL or %%push execute AGENT as cell magics)"
)
_MISSING_CHANNEL = (
    "%%push needs the channel to publish the cell to (%%push CHANNEL), "
    "or execute AGENT to run an agent on it (%%push execute AGENT)"
)


class MagicError(Exception):
    """A failed ``%push`` command, shown as one line (IPython's ``_render_traceback_``).

    The cell still counts as failed (*Run All* stops there), but the reader
    sees what went wrong, not the package's insides.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31mpraison_push: {self}\x1b[0m"]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, PushError) else f"{type(exc).__name__}: {text}"


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as IPython ``UsageError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or _USAGE)


def _parser(prog: str, *arguments: tuple[tuple[str, ...], dict[str, Any]]) -> _Parser:
    parser = _Parser(prog=prog, add_help=False)
    for names, options in arguments:
        parser.add_argument(*names, **options)
    return parser


_PUBLISH = _parser(
    "%%push",
    (("channel",), {}),
    (("--json",), {"action": "store_true", "help": "the body must be JSON"}),
    (("-o", "--output"), {"default": None, "help": "store the receipt in this variable"}),
)
_SUBSCRIBE = _parser(
    "%push subscribe", (("channel",), {}), (("--limit",), {"type": int, "default": 50})
)
_PRESENCE = _parser("%push presence", (("channel",), {"nargs": "?", "default": None}))
_CONNECT = _parser("%push connect", (("url",), {}), (("--token",), {"default": None}))
_GATEWAY = _parser("%push gateway", (("action",), {"choices": ["start", "stop", "status"]}))
_EXECUTE = _parser("%%push execute", (("agent",), {}))


@magics_class
class PushMagics(Magics):
    """The ``%push`` line magic and ``%%push`` cell magic."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self._client: NotebookClient | None = None
        self._gateway: NotebookGateway | None = None
        #: The live widget of each ``%push subscribe CH`` / ``%push presence [CH]``,
        #: closed when the same command runs again (so its handlers leave the client).
        self._widgets: dict[tuple[str, str | None], Any] = {}
        #: The run started by the last ``%%push execute`` (for ``.result()``, replay …).
        self.last_execution: NotebookExecution | None = None

    # --- which gateway --------------------------------------------------------

    @property
    def client(self) -> NotebookClient:
        """The magics' client, connected on first use (see the module docstring)."""
        # A client that is merely reconnecting is kept: replacing it would leak
        # it and run two sessions under one client id.
        if self._client is None or self._client.closed:
            self._drop_client()
            url = os.environ.get("PRAISON_PUSH_URL")
            if url:
                client = NotebookClient(url, auth_token=os.environ.get("PRAISON_PUSH_TOKEN"))
                client.connect()
                self._client = client
            else:
                self._client = self._ensure_gateway().client(client_id=MAGICS_CLIENT_ID)
        return self._client

    def _ensure_gateway(self) -> NotebookGateway:
        if self._gateway is None or not self._gateway.running:
            self._gateway = start_gateway()
        return self._gateway

    def _drop_client(self) -> None:
        self._close_widgets()
        if self._client is not None:
            client, self._client = self._client, None
            client.disconnect()

    def _close_widgets(self) -> None:
        widgets = list(self._widgets.values())
        self._widgets.clear()
        for widget in widgets:
            widget.close()

    def _close_widget(self, key: tuple[str, str | None]) -> None:
        previous = self._widgets.pop(key, None)
        if previous is not None:
            previous.close()

    def _show_widget(self, key: tuple[str, str | None], widget: Any) -> None:
        """Show ``widget``, remembered so the same command closes it when run again."""
        self._widgets[key] = widget
        show(widget)

    # --- the magic --------------------------------------------------------------

    @line_cell_magic
    def push(self, line: str, cell: str | None = None) -> Any:
        """Publish, subscribe, show presence, run agents, manage the gateway."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%push: {exc}") from None
        if not argv:
            raise UsageError(_MISSING_COMMAND if cell is None else _MISSING_CHANNEL)
        try:
            return self._run(argv, cell)
        except errors.USER_ERRORS as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise MagicError("interrupted (a run started here goes on)") from None
            raise MagicError(_one_line(exc)) from None

    def _run(self, argv: list[str], cell: str | None) -> Any:
        if cell is None:
            return self._line(argv)
        if argv[0] == "execute":
            args = _EXECUTE.parse_args(argv[1:])
            return self._execute(args.agent, cell)
        args = _PUBLISH.parse_args(argv)
        return self._publish(args.channel, cell, as_json=args.json, output=args.output)

    def _line(self, argv: list[str]) -> Any:
        command, rest = argv[0], argv[1:]
        if command == "gateway":
            return self._gateway_command(_GATEWAY.parse_args(rest).action)
        if command == "connect":
            args = _CONNECT.parse_args(rest)
            self._drop_client()
            client = NotebookClient(args.url, auth_token=args.token)
            client.connect()
            self._client = client
            return None
        if command == "subscribe":
            args = _SUBSCRIBE.parse_args(rest)
            from .widgets import ChannelLog

            key = ("subscribe", args.channel)
            self._close_widget(key)
            self._show_widget(key, ChannelLog(self.client, args.channel, limit=args.limit))
            return None
        if command == "presence":
            args = _PRESENCE.parse_args(rest)
            from .widgets import PresenceList

            key = ("presence", args.channel)
            self._close_widget(key)
            self._show_widget(key, PresenceList(self.client, args.channel))
            return None
        if command == "execute":
            raise UsageError("%%push execute AGENT is a cell magic: the cell body is the input")
        raise UsageError(f"%push: unknown command {command!r}; {_USAGE}")

    def _gateway_command(self, action: str) -> Any:
        if action == "start":
            gateway = self._ensure_gateway()
            show(gateway)
            return None
        if action == "stop":
            self._drop_client()
            if self._gateway is not None:
                self._gateway.stop()
                self._gateway = None
            return None
        if self._gateway is None or not self._gateway.running:
            print("no in-process gateway is running (%push gateway start)")
            return None
        show(self._gateway)
        return None

    def _publish(self, channel: str, body: str, *, as_json: bool, output: str | None) -> Any:
        text = body.strip()
        data: Any
        try:
            data = json.loads(text)
        except ValueError as exc:
            if as_json:
                raise UsageError(
                    f"%%push {channel} --json: the cell is not valid JSON ({exc})"
                ) from None
            data = text
        if output and not output.isidentifier():
            raise UsageError(f"%%push: -o needs a variable name, got {output!r}")
        receipt = self.client.publish(channel, data)
        if output and self.shell is not None:
            self.shell.user_ns[output] = receipt
        show(receipt)
        return None

    def _execute(self, agent: str, body: str) -> Any:
        text = body.strip()
        if not text:
            raise UsageError("%%push execute: the cell body (the agent's input) is empty")
        execution = self.client.execute(agent, text)
        self.last_execution = execution
        execution.show()
        # The cell runs as long as the run does (the view updates meanwhile), so *Run All*
        # goes on with its answer in place; an interrupt stops the wait, not the run. A run
        # that asks a person for approval ends the wait: the kernel must be idle for the
        # view's Approve/Deny click to reach it.
        for event in execution:
            if event.approval_request is not None:
                break
        return None
