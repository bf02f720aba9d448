"""``start_gateway()`` for notebooks: an in-process gateway and clients bound to it."""

from __future__ import annotations

from typing import Any

from ..server import GatewayConfig, InProcessGateway, start_in_process
from ..sync import PushClient
from ..sync.execution import SyncExecution

__all__ = ["NotebookClient", "NotebookExecution", "NotebookGateway", "start_gateway"]


class NotebookExecution(SyncExecution):
    """A run handle that can show itself as a live widget."""

    def show(self, *, markdown: bool = False) -> None:
        """Display a live :class:`~praison_push.notebook.ExecutionView` of this run.

        Returns ``None`` on purpose: a view returned as a cell's value would be
        displayed a second time.
        """
        from .display import show  # here, so start_gateway() works without IPython
        from .widgets import ExecutionView

        show(ExecutionView(self, markdown=markdown))


class NotebookClient(PushClient):
    """A blocking client whose runs display as live widgets (``client.execute(...).show()``)."""

    execution_class = NotebookExecution

    def execute(
        self, agent_id: str, input: str, *, session_id: str | None = None
    ) -> NotebookExecution:
        """Start a run; ``.show()`` on the result displays it live."""
        return _notebook(super().execute(agent_id, input, session_id=session_id))

    def attach(self, execution_id: str) -> NotebookExecution:
        """Watch an existing run from its start; ``.show()`` displays it live."""
        return _notebook(super().attach(execution_id))


def _notebook(execution: SyncExecution) -> NotebookExecution:
    if not isinstance(execution, NotebookExecution):  # execution_class was replaced
        raise TypeError(f"expected a NotebookExecution, got {type(execution).__name__}")
    return execution


class NotebookGateway(InProcessGateway):
    """An in-process gateway with notebook conveniences (:meth:`client`)."""

    def client(self, *, client_id: str | None = None, **options: Any) -> NotebookClient:
        """A connected blocking client for this gateway (its token filled in)."""
        client = NotebookClient(self.url, auth_token=self.token, client_id=client_id, **options)
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
    return start_in_process(port=port, token=token, config=config, cls=NotebookGateway)
