"""Errors in a notebook: the message and the user's own code, not the package's insides.

A blocking call runs on the client's loop thread, so what it raises arrives
with frames of that thread, of ``concurrent.futures`` and of the package: a
``wait_for`` timeout or a refused request read as 60 lines of someone else's
code before the one line that matters. In an IPython kernel,
:func:`install` registers a handler for the errors the package raises to its
user (its own :class:`~praison_push.client.PushError` family, timeouts,
interrupts, bad arguments): when the error passed through the package, the
traceback keeps only the user's frames, and the causes chained inside the
package are left out. Anything else is shown exactly as IPython would.

``%xmode verbose`` shows everything, the package's frames included.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from ..client import PushError

__all__ = ["install", "user_traceback"]

logger = logging.getLogger("praison_push.notebook")

#: The errors the package raises to a user: its own, timeouts, interrupts, bad arguments.
USER_ERRORS: tuple[type[BaseException], ...] = (
    PushError,
    TimeoutError,
    asyncio.TimeoutError,
    concurrent.futures.TimeoutError,
    concurrent.futures.CancelledError,
    KeyboardInterrupt,
    ValueError,
    TypeError,
)

_PACKAGE = Path(__file__).resolve().parents[1]
#: Where frames that are never the user's live: the package, the machinery of its
#: threads and loops, and IPython's own cell runner.
_NOT_THE_USER = (
    str(_PACKAGE),
    str(Path(concurrent.futures.__file__).resolve().parent),
    str(Path(asyncio.__file__).resolve().parent),
    str(Path(threading.__file__).resolve()),
)


def _frames(tb: TracebackType | None) -> list[TracebackType]:
    found = []
    while tb is not None:
        found.append(tb)
        tb = tb.tb_next
    return found


def _file(tb: TracebackType) -> str:
    return str(Path(tb.tb_frame.f_code.co_filename).resolve())


def _through_package(tb: TracebackType | None) -> bool:
    return any(_file(frame).startswith(str(_PACKAGE)) for frame in _frames(tb))


def user_traceback(tb: TracebackType | None, hidden: tuple[str, ...] = ()) -> TracebackType | None:
    """``tb`` without the frames of the package, its threads and loops (and ``hidden``)."""
    skip = _NOT_THE_USER + hidden
    kept = [frame for frame in _frames(tb) if not _file(frame).startswith(skip)]
    rebuilt: TracebackType | None = None
    for frame in reversed(kept):
        rebuilt = TracebackType(rebuilt, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return rebuilt


def _ipython_dirs() -> tuple[str, ...]:
    dirs = []
    for name in ("IPython", "ipykernel"):
        module = sys.modules.get(name)
        if module is not None and module.__file__:
            dirs.append(str(Path(module.__file__).resolve().parent))
    return tuple(dirs)


def _handler(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: int | None = None,
) -> list[str]:
    """IPython's custom exception hook: it shows the error itself (IPython discards the
    returned lines when the error came from a cell's code)."""
    stb = _lines(shell, etype, value, tb, tb_offset)
    shell._showtraceback(etype, value, stb)
    return stb


def _lines(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: int | None,
) -> list[str]:
    formatter = shell.InteractiveTB
    verbose = str(getattr(formatter, "mode", "")).lower() == "verbose"
    if verbose or not _through_package(tb):
        stb: list[str] = formatter.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        return stb
    # The causes chained inside the package are its business, not the user's.
    value.__cause__ = None
    value.__suppress_context__ = True
    mine = user_traceback(tb, _ipython_dirs())
    value.__traceback__ = mine
    if mine is None:
        only: list[str] = formatter.get_exception_only(etype, value)
        return only
    stb = formatter.structured_traceback(etype, value, mine, tb_offset=0)
    return stb


def install(shell: Any = None) -> bool:
    """Show the package's errors briefly in this IPython kernel; whether it is now installed.

    Leaves a shell alone that already has a custom exception handler (the
    user's, or another library's): IPython keeps only one.
    """
    if shell is None:
        module = sys.modules.get("IPython")
        shell = module.get_ipython() if module is not None else None
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    current = tuple(getattr(shell, "custom_exceptions", ()))
    if current == USER_ERRORS:
        return True
    if current:
        logger.debug("a custom exception handler is set already; keeping it")
        return False
    shell.set_custom_exc(USER_ERRORS, _handler)
    return True
