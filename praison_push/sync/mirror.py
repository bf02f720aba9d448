"""The blocking face documents itself with the async face's words.

A blocking method that behaves as its async twin does takes the twin's
docstring with :func:`mirrors`, so the two cannot drift apart; where the faces
differ on purpose (callbacks on a worker thread, a blocking iterator, a
timeout a blocked thread needs) the blocking method writes its own, and
``tests/sync/test_parity.py`` lists each such difference with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["mirrors"]

F = TypeVar("F", bound=Callable[..., Any])


def mirrors(twin: Any) -> Callable[[F], F]:
    """Decorator: give the decorated function ``twin``'s docstring (a method or a property)."""

    def document(function: F) -> F:
        function.__doc__ = twin.__doc__
        return function

    return document
