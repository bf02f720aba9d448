"""What a saved notebook shows of a widget: its fallback bundle, kept up to date.

A widget output is saved as a MIME bundle: the widget's model id plus a
``text/plain`` (and here a ``text/html``) fallback. Whatever renders the file
without the live kernel — GitHub, nbviewer, ``nbconvert``, JupyterLab after a
restart — shows the fallback, so a fallback frozen at the moment of display
would lie (``running · 0 tokens`` for a run that finished).

So every praison_push widget is displayed with a ``display_id``
(:meth:`StreamWidget._ipython_display_`), and its outputs are rewritten with
``update_display_data`` when what they would say has changed:

* when something ends — a run's terminal event, the widget's client going away,
  the widget being closed (then without the widget view, whose model is gone),
  the kernel exiting — from whichever thread saw it; front ends route the
  update by ``display_id`` (JupyterLab, Notebook 7);
* after every cell (IPython's ``post_run_cell``), for widgets whose fallback
  changed and was not yet sent while a cell ran: tools that record outputs per
  cell (nbclient, hence ``jupyter nbconvert --execute``) only take updates that
  arrive while a cell runs.

A live front end re-renders the widget view on such an update; the view then
draws from its per-model store, so nothing is lost (``static/widgets.js``).
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Any, Protocol

__all__ = [
    "SavedOutputs",
    "get_saved_outputs",
    "in_kernel",
    "publish",
    "publish_text",
    "shell",
]

logger = logging.getLogger("praison_push.notebook")


class Displayed(Protocol):
    """What :class:`SavedOutputs` needs from a widget."""

    def _refresh_saved(self, *, in_cell: bool) -> None:
        """Publish the fallback if it changed (``in_cell``: a cell is running on this thread)."""

    def _finish_saved(self, reason: str) -> None:
        """The kernel exits: publish the final, static fallback."""


class SavedOutputs:
    """The displayed widgets of this kernel and the IPython hooks that keep their fallbacks true."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._widgets: weakref.WeakSet[Any] = weakref.WeakSet()
        self._hooked: Any = None  # the shell the hooks are registered with
        self._cell_thread: int | None = None  # the thread running a cell right now

    def track(self, widget: Displayed) -> None:
        """Remember a displayed widget; hook into the current IPython shell (once)."""
        with self._lock:
            self._widgets.add(widget)
        self._hook()

    def forget(self, widget: Displayed) -> None:
        """Stop refreshing ``widget`` (closed)."""
        with self._lock:
            self._widgets.discard(widget)

    @property
    def in_cell(self) -> bool:
        """Whether a cell is running (its updates reach every front end, nbclient included)."""
        return self._cell_thread is not None

    def _hook(self) -> None:
        running = shell()
        if running is None or self._hooked is running:
            return
        self._hooked = running
        running.events.register("pre_run_cell", self._before_cell)
        running.events.register("post_run_cell", self._after_cell)

    def _before_cell(self, *_info: Any) -> None:
        self._cell_thread = threading.get_ident()

    def _after_cell(self, *_result: Any) -> None:
        try:
            for widget in self._snapshot():
                try:
                    widget._refresh_saved(in_cell=True)
                except Exception as exc:  # never break the user's cell
                    logger.debug("refreshing a saved output failed: %r", exc)
        finally:
            self._cell_thread = None

    def _snapshot(self) -> list[Displayed]:
        with self._lock:
            return list(self._widgets)

    def finish_all(self, reason: str) -> None:
        """The kernel exits: every displayed widget publishes its final, static fallback."""
        for widget in self._snapshot():
            try:
                widget._finish_saved(reason)
            except Exception as exc:
                logger.debug("finishing a saved output failed: %r", exc)


def shell() -> Any:
    """The running IPython shell, if this process has one (IPython is not imported for it)."""
    import sys

    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        return module.get_ipython()
    except Exception:  # pragma: no cover - a broken IPython install
        return None


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (whose front end can show widgets)."""
    running = shell()
    return running is not None and getattr(running, "kernel", None) is not None


def publish(
    data: dict[str, Any], metadata: dict[str, Any], display_id: str, *, update: bool
) -> None:
    """Send a display (or an update of every output with ``display_id``) to the front end."""
    from IPython.display import publish_display_data

    publish_display_data(  # type: ignore[no-untyped-call]
        data=data, metadata=metadata, transient={"display_id": display_id}, update=update
    )


def publish_text(text: str) -> None:
    """Display plain text (a front end without widgets, such as terminal IPython)."""
    from IPython.display import publish_display_data

    publish_display_data(data={"text/plain": text})  # type: ignore[no-untyped-call]


_saved = SavedOutputs()


def get_saved_outputs() -> SavedOutputs:
    """The process-wide registry of displayed widgets."""
    return _saved


@atexit.register
def _kernel_exits() -> None:
    _saved.finish_all("kernel stopped")
