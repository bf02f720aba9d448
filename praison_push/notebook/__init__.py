"""The notebook face: in-process gateway, live widgets, ``%push`` magics.

Widgets are fed from the kernel through the public client API (not from a
browser WebSocket of their own), so they work on Binder and behind any Jupyter
proxy. Widget classes import anywidget on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gateway import NotebookClient, NotebookGateway, start_gateway
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

#: Names loaded on first use: widgets need anywidget, the gateway needs the server layer,
#: and ``import praison_push.notebook.widgets`` must load neither the hub nor uvicorn.
_LAZY = {
    **dict.fromkeys(
        ("ChannelLog", "ExecutionView", "PresenceList", "TokenStream", "ToolCalls"),
        "praison_push.notebook.widgets",
    ),
    **dict.fromkeys(
        ("NotebookClient", "NotebookGateway", "start_gateway"), "praison_push.notebook.gateway"
    ),
}


#: What the widgets need beyond the runtime dependencies: the ``notebook`` extra.
_NOTEBOOK_EXTRA = ("anywidget", "ipywidgets", "traitlets", "IPython")


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is not None:
        try:
            module = importlib.import_module(module_name)
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
