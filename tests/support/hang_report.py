"""A pytest plugin: when a test is about to hit pytest-timeout, print the portal's tasks.

pytest-timeout dumps every thread's stack, but a blocking client waits on a
coroutine: the thread dump shows only the portal loop idle in ``select`` and
the caller blocked on a future. Shortly before the timeout this prints the
stack of every task on the portal loop (where the blocking clients' coroutines
run), so a hang in CI names the ``await`` it is stuck in.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Generator
from typing import Any

import pytest

from praison_push.sync.portal import get_portal

#: The report comes this long before pytest-timeout fails the test.
_AHEAD = 3.0


def _report(item: pytest.Item) -> None:
    portal = get_portal()
    if not portal.running:
        return
    loop = portal.loop
    out = io.StringIO()
    for _attempt in range(3):  # the set of tasks may change while it is read
        try:
            tasks = list(asyncio.all_tasks(loop))
            break
        except RuntimeError:
            continue
    else:
        return
    print(f"\n=== {len(tasks)} portal tasks near the timeout of {item.nodeid}", file=out)
    for task in tasks:
        task.print_stack(limit=20, file=out)
    sys.__stderr__.write(out.getvalue())


@pytest.hookimpl(hookwrapper=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Generator[None, None, None]:
    timeout = getattr(settings, "timeout", None)
    if timeout and timeout > _AHEAD:
        timer = threading.Timer(timeout - _AHEAD, _report, (item,))
        timer.daemon = True
        timer.start()
        item.stash[_TIMER] = timer
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> Generator[None, None, None]:
    timer = item.stash.get(_TIMER, None)
    if timer is not None:
        timer.cancel()
    yield


_TIMER = pytest.StashKey[threading.Timer]()
