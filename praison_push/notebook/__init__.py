"""The notebook face: in-process gateway, live widgets, ``%push`` magics.

Widgets are fed from the kernel through the public client API (not from a
browser WebSocket of their own), so they work on Binder and behind any Jupyter
proxy. Widget classes import anywidget on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .gateway import NotebookClient, NotebookGateway, start_gateway

if TYPE_CHECKING:
    from .widgets import ChannelLog, ExecutionView, PresenceList, TokenStream, ToolCalls

__all__ = [
    "ChannelLog",
    "ExecutionView",
    "NotebookClient",
    "NotebookGateway",
    "PresenceList",
    "TokenStream",
    "ToolCalls",
    "load_ipython_extension",
    "start_gateway",
]

_WIDGETS = {"ChannelLog", "ExecutionView", "PresenceList", "TokenStream", "ToolCalls"}


#: What the widgets need beyond the runtime dependencies: the ``notebook`` extra.
_NOTEBOOK_EXTRA = ("anywidget", "ipywidgets", "traitlets", "IPython")


def __getattr__(name: str) -> Any:
    if name in _WIDGETS:
        try:
            module = importlib.import_module("praison_push.notebook.widgets")
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in _NOTEBOOK_EXTRA:
                raise
            raise ModuleNotFoundError(
                f"{name} needs the notebook extra ({exc.name} is not installed): "
                "pip install 'praison-push[notebook]'",
                name=exc.name,
            ) from None
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'praison_push.notebook' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext praison_push``: register the ``%push`` / ``%%push`` magics."""
    from . import errors
    from .magics import PushMagics

    ipython.register_magics(PushMagics)
    errors.install(ipython)
