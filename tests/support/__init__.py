"""The tests' one support package: time unit, waits, recorders, clocks, raw clients, a proxy.

Every bounded wait in the suite is a multiple of one unit, scaled by
``PRAISON_PUSH_TEST_TIMEOUT_SCALE`` (CI sets it higher), and waits on a
condition — never a fixed sleep. Tests import from here, never from
``conftest`` (pytest owns that module).
"""

from __future__ import annotations

from .clock import FakeClock
from .http import http_client, http_client_sync
from .proxy import CuttingProxy
from .recorder import Recorder
from .timing import SHORT, UNIT, WAIT, timeout, wait_until, wait_until_threaded
from .ws import ask, closed_with, dial, expect, next_frame, raw_client, works

__all__ = [
    "SHORT",
    "UNIT",
    "WAIT",
    "CuttingProxy",
    "FakeClock",
    "Recorder",
    "ask",
    "closed_with",
    "dial",
    "expect",
    "http_client",
    "http_client_sync",
    "next_frame",
    "raw_client",
    "timeout",
    "wait_until",
    "wait_until_threaded",
    "works",
]
