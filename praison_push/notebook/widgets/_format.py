"""Numbers and small pieces of text as the widgets show them (the front end formats alike).

One rule set for the kernel-side reprs and saved fallbacks and for
``static/widgets.js``: counts with thousands separators and a singular for one
("1 token", "1,200 tokens"); rates rounded to what can be read ("7.5 tok/s",
"80 tok/s", "1,498 tok/s").
"""

from __future__ import annotations

import html
import time

__all__ = ["ago", "clock", "count", "escape", "millis", "rate"]


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``"1 token"``, ``"1,200 tokens"``."""
    word = noun if number == 1 else (plural or noun + "s")
    return f"{number:,} {word}"


def rate(per_second: float) -> str:
    """Tokens per second: one decimal below 10, whole numbers (with separators) above."""
    if per_second < 10:
        return f"{per_second:.1f} tok/s"
    return f"{round(per_second):,} tok/s"


def millis(ms: int | float) -> str:
    """``"850 ms"``, ``"1,234 ms"``."""
    return f"{round(ms):,} ms"


def clock(seconds: float) -> str:
    """Local wall-clock time of a timestamp, ``HH:MM:SS``."""
    return time.strftime("%H:%M:%S", time.localtime(seconds))


def ago(seconds: float, now: float | None = None) -> str:
    """How long ago a timestamp was, in words ("just now", "3 min ago")."""
    delta = max(0, round((time.time() if now is None else now) - seconds))
    if delta < 5:
        return "just now"
    if delta < 60:
        return f"{delta} s ago"
    if delta < 3600:
        return f"{delta // 60} min ago"
    return f"{delta // 3600} h ago"


def escape(text: object) -> str:
    """``text`` safe to put in HTML (it comes from the network)."""
    return html.escape(str(text), quote=True)
