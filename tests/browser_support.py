"""The system Chromium for the browser tests, driven by Playwright: never a downloaded one.

Debian's ``chromium`` (``apt-get install -y --no-install-recommends chromium``;
.ci/run installs it) at ``/usr/bin/chromium``, or wherever
``PRAISON_PUSH_CHROMIUM`` points. The browser tests are the only check of the
front ends, so a missing browser fails them, loudly; they are never skipped,
and ``playwright install`` is never run.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import pytest

if TYPE_CHECKING:
    from playwright import async_api, sync_api

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "chromium_path", "launch_chromium"]

#: The Chromium executable the browser tests drive.
CHROMIUM = os.environ.get("PRAISON_PUSH_CHROMIUM", "/usr/bin/chromium")
#: Flags for a headless Chromium in a container: no sandbox, GPU or background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str:
    """:data:`CHROMIUM`; fails the test, saying how to install it, when it is not there."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"Chromium is needed for the browser tests and is not at {CHROMIUM}: install it "
            "with `apt-get install -y --no-install-recommends chromium` (as .ci/run does) or "
            "point PRAISON_PUSH_CHROMIUM at one. Never `playwright install`."
        )
    return CHROMIUM


@overload
def launch_chromium(playwright: sync_api.Playwright) -> sync_api.Browser: ...


@overload
def launch_chromium(
    playwright: async_api.Playwright,
) -> Coroutine[Any, Any, async_api.Browser]: ...


def launch_chromium(playwright: Any) -> Any:
    """Launch the system Chromium, headless, with :data:`CHROMIUM_ARGS`.

    With Playwright's sync API this returns the ``Browser``; with its async API,
    a coroutine to await for it. The caller closes the browser.
    """
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
    )
