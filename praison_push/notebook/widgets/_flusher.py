"""One daemon thread that ships every widget's pending changes, at most ~20 times a second.

Tokens arrive far faster than a browser can usefully repaint (and faster than
Jupyter's default IOPub rate limit of 1,000 messages/s allows), so widgets
never send per event: they only mark themselves dirty. This thread wakes on the
first mark, sends one delta per dirty widget, then sleeps ``interval`` before
the next round — so a widget sends at most one delta per interval however fast
it changes or however slowly a round goes, the first change after a quiet
spell goes out at once, and an idle notebook costs no wake-ups. One thread
serves every widget: no timer thread per flush, no thread per widget.

It also publishes a widget's *snapshot* once the widget has been quiet for
``idle_after`` seconds (:meth:`StreamWidget._checkpoint`): a front end that
missed deltas (rendered late, reloaded) then heals without asking the kernel,
which cannot answer while a cell runs. Sending the full state only when quiet
keeps the bytes per token constant while a stream runs.

The thread never calls into a widget while holding its own condition, so a
widget may mark itself dirty while holding the widget's lock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

__all__ = ["Flushable", "Flusher", "get_flusher"]

logger = logging.getLogger("praison_push.notebook")

#: Seconds between two deltas of one widget: at most 20 front-end messages/s each.
FLUSH_INTERVAL = 0.05
#: Quiet seconds after which a widget's snapshot is brought up to date.
IDLE_AFTER = 2.0


class Flushable(Protocol):
    """What the flusher calls on a widget (from its own thread)."""

    #: ``time.monotonic()`` before which no delta is sent (the front end is still loading).
    ready_at: float

    def _flush_pending(self) -> bool:
        """Send one delta with everything pending; whether anything was sent."""

    def _checkpoint(self) -> None:
        """Bring the snapshot up to date."""


class Flusher:
    """Coalesces widget changes into at most one delta per widget per ``interval``.

    Args:
        interval: Seconds from the end of one flush round to the next.
        idle_after: Quiet seconds before a widget's snapshot is refreshed.
    """

    def __init__(self, interval: float = FLUSH_INTERVAL, idle_after: float = IDLE_AFTER) -> None:
        self.interval = interval
        self.idle_after = idle_after
        self._cond = threading.Condition()
        self._dirty: dict[int, Flushable] = {}
        self._quiet: dict[int, tuple[float, Flushable]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<Flusher {self.interval * 1000:.0f} ms {'running' if alive else 'idle'}>"

    def mark(self, widget: Flushable) -> None:
        """``widget`` has pending changes: flush it in the next round (thread-safe)."""
        with self._cond:
            if self._closed:
                return
            self._dirty[id(widget)] = widget
            self._quiet.pop(id(widget), None)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="praison-push-widget-flusher", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def forget(self, widget: Flushable) -> None:
        """Drop ``widget`` (closed): nothing more is sent for it."""
        with self._cond:
            self._dirty.pop(id(widget), None)
            self._quiet.pop(id(widget), None)

    def close(self, timeout: float = 1.0) -> None:
        """Stop the thread, dropping what is pending (the shared flusher is never closed)."""
        with self._cond:
            self._closed = True
            self._dirty.clear()
            self._quiet.clear()
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _next_round(self) -> tuple[list[Flushable], list[Flushable]] | None:
        """Wait for widgets to flush or checkpoint; take them off the books (``None``: closed)."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                ready = [w for w in self._dirty.values() if w.ready_at <= now]
                quiet = [w for deadline, w in self._quiet.values() if deadline <= now]
                if ready or quiet:
                    for widget in ready:
                        del self._dirty[id(widget)]
                    for widget in quiet:
                        del self._quiet[id(widget)]
                    return ready, quiet
                deadlines = [w.ready_at for w in self._dirty.values()]
                deadlines += [deadline for deadline, _ in self._quiet.values()]
                self._cond.wait(min(deadlines) - now if deadlines else None)
            return None

    def _run(self) -> None:
        while (batch := self._next_round()) is not None:
            ready, quiet = batch
            started = time.monotonic()
            for widget in ready:
                try:
                    sent = widget._flush_pending()
                except Exception:
                    logger.exception("flushing %r failed", widget)
                    continue
                if sent:
                    with self._cond:
                        if id(widget) not in self._dirty:
                            self._quiet[id(widget)] = (started + self.idle_after, widget)
            for widget in quiet:
                try:
                    widget._checkpoint()
                except Exception:
                    logger.exception("publishing the snapshot of %r failed", widget)
            if ready:
                # Pace the rounds from the end of this one's sends, not its start: a
                # send held up (a busy machine, a widget's lock) must not leave its
                # widget's next delta less than ``interval`` behind it.
                time.sleep(self.interval)


_flusher = Flusher()


def get_flusher() -> Flusher:
    """The process-wide flusher every widget shares."""
    return _flusher
