"""The notebook re-run rule: what a cell made last time it ran is replaced when it runs again.

Re-running a cell is the most common thing a notebook user does, and in plain
Python it piles things up: a client made by the cell stays connected beside
the new one (two connections, then four), a callback defined in the cell is
registered again beside the old one (each message handled twice, then three
times). So, in a notebook cell:

* clients made by ``gw.client()`` in a cell close when the same cell runs
  again and makes its clients anew (all the clients of one run live on: a cell
  may make several);
* a callback given to ``client.subscribe(channel, callback)`` or
  ``client.on(event, handler)`` from a cell replaces the one the same cell
  registered, on the same client and channel (or event), the last time it ran.

A cell is known by the id the front end sends with it (JupyterLab, Notebook 7,
nbclient), else by its source text (terminal IPython); a *run* of it by the
request that ran it. Outside a cell — a script, a thread, a callback — nothing
is replaced.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CellRun", "Replacer", "current_run"]


@dataclass(frozen=True)
class CellRun:
    """One run of one cell: ``cell`` names the cell, ``run`` this run of it."""

    cell: str
    run: str


def current_run() -> CellRun | None:
    """The cell running on this thread right now, if a notebook cell is running here."""
    if threading.current_thread() is not threading.main_thread():
        return None
    module = sys.modules.get("IPython")
    shell = module.get_ipython() if module is not None else None
    if shell is None:
        return None
    cell_id, run_id = None, None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        try:
            parent = kernel.get_parent()
        except Exception:  # an ipykernel without get_parent(): fall back to the source
            parent = {}
        if isinstance(parent, dict):
            metadata = parent.get("metadata") or {}
            header = parent.get("header") or {}
            cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
            run_id = header.get("msg_id") if isinstance(header, dict) else None
    if not cell_id:
        history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
        if not history:
            return None
        cell_id = "source:" + str(history[-1])
    return CellRun(str(cell_id), str(run_id or getattr(shell, "execution_count", "")))


class Replacer:
    """Remembers what each cell made, by key, and which run of the cell made it.

    ``made(key, thing, release)`` records ``thing`` for the current cell and
    releases (``release(old)``) what the previous run of the same cell made
    under the same key. With ``weak=True`` a thing is held weakly (a client
    nobody holds is not kept alive by this book); callbacks are held as given.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._book: dict[tuple[str, Any], tuple[str, list[Any]]] = {}

    def made(
        self, key: Any, thing: Any, release: Callable[[Any], object], *, weak: bool = False
    ) -> None:
        """Record ``thing``; release what an earlier run of this cell made under ``key``."""
        where = current_run()
        if where is None:
            return
        stale: list[Any] = []
        with self._lock:
            run, things = self._book.get((where.cell, key), (where.run, []))
            if run != where.run:
                stale, things = things, []
            things.append(_hold(thing) if weak else (lambda: thing))
            self._book[(where.cell, key)] = (where.run, things)
        for held in stale:
            old = held()
            if old is not None and old is not thing:
                release(old)


def _hold(thing: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(thing)
    except TypeError:  # not weakly referable: held as it is
        return lambda: thing
