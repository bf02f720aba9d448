"""Live Jupyter widgets (anywidget): runs, tool calls, presence, channel logs.

Every widget streams coalesced deltas (at most ~20 front-end messages a
second, constant bytes per token) and keeps a snapshot for late and reloaded
views; see :mod:`._base` for the protocol. The front end is one ES module,
``praison_push/notebook/static/widgets.js``, loaded without a build step.

Widgets work with the blocking and the async client alike, update while a
cell runs, and show readable plain text in a terminal.
"""

from __future__ import annotations

from ._base import StreamWidget
from ._flusher import Flusher, get_flusher
from .channels import ChannelLog
from .presence import PresenceList
from .runs import ExecutionView, TokenStream, ToolCalls

__all__ = [
    "ChannelLog",
    "ExecutionView",
    "Flusher",
    "PresenceList",
    "StreamWidget",
    "TokenStream",
    "ToolCalls",
    "get_flusher",
]
