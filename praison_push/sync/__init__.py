"""The blocking face: ``PushClient`` for scripts, the REPL and notebooks.

Every method forwards to an :class:`~praison_push.client.AsyncPushClient`
running on one shared background event-loop thread, so it also works where a
loop already runs (Jupyter) without nest-asyncio.
"""

from __future__ import annotations

from .client import MessageIterator, PushClient
from .execution import SyncExecution, SyncExecutionIterator
from .messages import SyncChannelMessage

__all__ = [
    "MessageIterator",
    "PushClient",
    "SyncChannelMessage",
    "SyncExecution",
    "SyncExecutionIterator",
]
