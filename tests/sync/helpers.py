"""Helpers of the blocking-face tests: the connect fixture's type, and the portal loop.

Time units, waits and recorders come from the ``support`` package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from praison_push.sync import PushClient
from praison_push.sync.portal import get_portal
from praison_push.testing import MemoryTransportFactory

#: ``connect(cls=PushClient, **options)`` (the fixture): a new client of the real gateway,
#: connected.
Connect = Callable[..., PushClient]


def feed(factory: MemoryTransportFactory, frame: dict[str, Any]) -> None:
    """Deliver ``frame`` to the last in-memory transport, on the portal loop where it lives."""
    get_portal().run_sync(factory.last.feed, frame)
