"""``start_gateway()`` for notebooks: an in-process gateway and clients bound to it."""

from __future__ import annotations

import html
import logging
import secrets
import sys
from collections.abc import Callable
from typing import Any, TypeVar, overload

from ..client import ChannelMessage
from ..server import GatewayConfig, InProcessGateway, start_in_process
from ..sync import PushClient
from ..sync.execution import SyncExecution
from . import saved
from .cells import Replacer

__all__ = ["NotebookClient", "NotebookExecution", "NotebookGateway", "start_gateway"]

logger = logging.getLogger("praison_push.notebook")

F = TypeVar("F", bound=Callable[..., Any])


class NotebookExecution(SyncExecution):
    """A run handle that can show itself: a live widget in Jupyter, live text elsewhere."""

    def show(self, *, markdown: bool = False) -> None:
        """Show the run as it happens.

        In a Jupyter kernel: displays a live
        :class:`~praison_push.notebook.ExecutionView` and returns at once.
        Anywhere else (a terminal, the plain REPL, a script): prints the run
        to ``sys.stdout`` as it happens — tokens as they come, a line per tool
        call, the final status — and returns when it has ended, or when it asks
        a person for an approval (answer with :meth:`approve`). Ctrl-C stops
        the printing, not the run.

        Returns ``None`` on purpose: a view returned as a cell's value would be
        displayed a second time.

        Args:
            markdown: In Jupyter, render the text as (a safe subset of) Markdown.
        """
        if not saved.in_kernel():
            self._print_live()
            return
        from .display import show  # here, so start_gateway() works without IPython
        from .widgets import ExecutionView

        show(ExecutionView(self, markdown=markdown))

    def _print_live(self) -> None:
        from ..client.transcript import RunPrinter

        printer = RunPrinter(sys.stdout, final=True)
        try:
            for event in self:
                printer.show(event.kind, event.data)
                if event.approval_request is not None:
                    break  # a person answers (run.approve(...)): the prompt is theirs again
        finally:
            printer.finish()


class NotebookClient(PushClient):
    """A blocking client whose runs display as live widgets (``client.execute(...).show()``).

    Follows the notebook re-run rule (:mod:`.cells`): a callback given to
    :meth:`subscribe` or :meth:`on` from a cell replaces the one that cell
    registered (for the same channel or event) the last time it ran.
    """

    execution_class = NotebookExecution

    def subscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        """Subscribe to ``channel``; ``callback`` gets each message (on the callback thread).

        Run again from the same cell, the new ``callback`` replaces the old one.
        """
        super().subscribe(channel, callback)
        if callback is not None:
            _cells.made(
                (id(self), "subscribe", channel),
                callback,
                lambda old: self.unsubscribe(channel, old),
            )

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> Callable[[F], F] | F:
        """Call ``handler`` for every ``event``; run again from the same cell, it replaces
        the handler that cell registered before. Works as a decorator too."""

        def register(handler: F) -> F:
            PushClient.on(self, event, handler)
            _cells.made((id(self), "on", event), handler, lambda old: self.off(event, old))
            return handler

        return register if handler is None else register(handler)

    def execute(
        self, agent_id: str, input: str, *, session_id: str | None = None
    ) -> NotebookExecution:
        """Start a run; ``.show()`` on the result displays it live."""
        return _notebook(super().execute(agent_id, input, session_id=session_id))

    def attach(self, execution_id: str) -> NotebookExecution:
        """Watch an existing run from its start; ``.show()`` displays it live."""
        return _notebook(super().attach(execution_id))


def _close_quietly(client: PushClient) -> None:
    try:
        client.close()
    except Exception as exc:  # a client that is already gone
        logger.debug("closing a replaced client failed: %r", exc)


#: What each notebook cell made, for the re-run rule.
_cells = Replacer()


def _notebook(execution: SyncExecution) -> NotebookExecution:
    if not isinstance(execution, NotebookExecution):  # execution_class was replaced
        raise TypeError(f"expected a NotebookExecution, got {type(execution).__name__}")
    return execution


class NotebookGateway(InProcessGateway):
    """An in-process gateway with notebook conveniences (:meth:`client`).

    Displayed in a notebook, its summary (state, connections, channels, runs)
    is kept up to date in the saved output: after every cell and when it stops
    (see :mod:`.saved`), so a saved notebook never shows a stopped gateway as
    running.
    """

    _display_id: str | None = None
    _saved_sent: tuple[str, str] | None = None
    _saved_confirmed: tuple[str, str] | None = None

    def summary(self) -> str:
        """One line: state, URL, connections, channels, running runs."""
        stats = self.stats()
        state = "● running" if self.running else "○ stopped"
        runs = stats["runs"]
        running = f"{runs:,} run{'' if runs == 1 else 's'} running" if runs else "no runs running"
        return (
            f"praison_push gateway {state} · {self.url} · "
            f"{stats['connections']:,} connection{'' if stats['connections'] == 1 else 's'} · "
            f"{stats['channels']:,} channel{'' if stats['channels'] == 1 else 's'} · {running}"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.summary()}>"

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.running else "#59636e"
        parts = self.summary().split(" · ")
        head, state = parts[0].rsplit(" ", 2)[0], " ".join(parts[0].split(" ")[-2:])
        rest = " · ".join(html.escape(part) for part in parts[2:])
        return (
            "<div style='font-family:system-ui,sans-serif;font-size:13px'>"
            f"<b>{html.escape(head)}</b> <span style='color:{colour}'>{html.escape(state)}</span>"
            f"<br><code>{html.escape(self.url)}</code> · {rest} · token set (hidden)</div>"
        )

    def _bundle(self) -> dict[str, Any]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _ipython_display_(self) -> None:
        """Display with a ``display_id`` so the saved output follows the gateway's state."""
        data = self._bundle()
        if not saved.in_kernel():
            saved.publish_text(data["text/plain"])
            return
        if self._display_id is None:
            self._display_id = f"praison-push-gateway-{self.port}-{secrets.token_hex(4)}"
        self._saved_sent = self._saved_confirmed = (data["text/plain"], data["text/html"])
        saved.publish(data, {}, self._display_id, update=False)
        saved.get_saved_outputs().track(self)

    def _refresh_saved(self, *, in_cell: bool | None = None) -> None:
        if self._display_id is None:
            return
        if in_cell is None:
            in_cell = saved.get_saved_outputs().in_cell
        data = self._bundle()
        signature = (data["text/plain"], data["text/html"])
        if signature == (self._saved_confirmed if in_cell else self._saved_sent):
            return
        self._saved_sent = signature
        if in_cell:
            self._saved_confirmed = signature
        saved.publish(data, {}, self._display_id, update=True)

    def _finish_saved(self, reason: str) -> None:
        self._refresh_saved(in_cell=False)

    def stop(self) -> None:
        """Stop serving; a displayed summary then says *stopped*."""
        super().stop()
        try:
            self._refresh_saved()
        except Exception as exc:  # never fail a stop for a display
            logger.debug("updating the gateway's output failed: %r", exc)

    def client(self, *, client_id: str | None = None, **options: Any) -> NotebookClient:
        """A connected blocking client for this gateway (its token filled in).

        In a notebook, running the same cell again closes the clients its
        previous run made (the re-run rule, :mod:`.cells`): re-running the cell
        keeps the gateway's connection count where it was.
        """
        client = NotebookClient(self.url, auth_token=self.token, client_id=client_id, **options)
        # The old clients go first, so a fixed client_id is never connected twice.
        _cells.made((id(self), "client"), client, _close_quietly, weak=True)
        client.connect()
        return client


def start_gateway(
    port: int = 0, token: str | None = None, config: GatewayConfig | None = None
) -> NotebookGateway:
    """Start a gateway inside this process, or return the one already running.

    Re-running the cell returns the running gateway; it stops at interpreter
    exit (kernel shutdown) or with ``gw.stop()``, and works as a context manager.

    Args:
        port: Port on 127.0.0.1; 0 picks a free one.
        token: Token clients must present; one is generated when ``None``.
        config: Full gateway configuration (its host and port are replaced).

    Example::

        gw = start_gateway()
        client = gw.client()
        client.subscribe("alerts", print)
        client.publish("alerts", {"level": "high"})
    """
    from . import errors

    errors.install()  # in a kernel: the package's errors read as one line
    return start_in_process(port=port, token=token, config=config, cls=NotebookGateway)
