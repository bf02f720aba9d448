"""Cheap unique ids for events and connections.

``uuid4()`` costs a system call per id; a publication needs one on the hot
path, so ids are a random per-process prefix plus a counter: unique across
gateways and restarts (the prefix is fresh each time) and nearly free.
"""

from __future__ import annotations

import itertools
import secrets

__all__ = ["IdFactory"]


class IdFactory:
    """Makes ids like ``"9f2c4e1a-1b"``: a random node prefix and a base-36 counter."""

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or secrets.token_hex(4)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}-{_base36(next(self._counter))}"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"
