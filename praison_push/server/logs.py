"""Logs that are safe to keep: no secrets at any level, no floods from hostile clients.

:func:`install_log_safety` puts one :class:`SafeLogFilter` on the loggers a
gateway writes to — its own, uvicorn's and websockets' (which at ``DEBUG`` log
every request header and every frame). The filter

* **redacts credentials** in every record it sees: ``Authorization`` and
  ``Cookie`` headers, ``?token=`` (and ``access_token``) in URLs, ``"token"``
  fields of JSON frames, JWT-looking strings, and the whole payload of a logged
  frame that mentions a token or ``auth`` (websockets shortens long frames, so a
  token could straddle the cut);
* **quietens client errors**: a record the gateway marks as caused by a client
  (``extra={"client_error": True}``; ``{"throttle": True}`` for any message that
  can repeat per frame, such as a backend outage), or one of the servers' own messages about a
  client's bad bytes (invalid UTF-8, an invalid HTTP request, a failed opening
  handshake) and ``accept()`` running out of file descriptors, is logged without
  its traceback, at ``WARNING`` at most, and at most once per ``interval``
  seconds per message, the next one saying how many were left out.

Filters run only for records a logger is enabled for, so the hot path pays
nothing while ``DEBUG`` is off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..protocol.redaction import redact

__all__ = ["SafeLogFilter", "install_log_safety", "redact"]

#: Loggers a gateway process writes credentials or client errors to (filters do not
#: apply to records propagated from child loggers, so each is named).
LOGGERS = (
    "praison_push",
    "praison_push.server",
    "praison_push.hub",
    "praison_push.agents",
    "praison_push.backends",
    "praison_push.client",
    "praison_push.sync",
    "praison_push.notebook",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "websockets",
    "websockets.server",
    "websockets.client",
    "asyncio",
)

#: Messages of uvicorn, websockets and asyncio that a client's bytes (or a flood of
#: clients) cause: logged without traceback and throttled.
CLIENT_ERROR_MESSAGES = frozenset(
    {
        "Invalid UTF-8 sequence received from client.",
        "Invalid HTTP request received.",
        "opening handshake failed",
        "socket.accept() out of system resource",
        "Error in data received",
    }
)


#: Prefixes of such messages. When accept() runs out of descriptors, asyncio retries
#: once per pending connection of the backlog (up to 2,048 retries a second, each
#: logged); a retry that runs after the server closed its socket fails with "Invalid
#: file descriptor: -1" — thousands of tracebacks at shutdown after a flood.
CLIENT_ERROR_PREFIXES = ("Exception in callback BaseSelectorEventLoop._start_serving(",)


def _first_line(text: str) -> str:
    return text.partition("\n")[0]


class SafeLogFilter(logging.Filter):
    """Redacts credentials and throttles client errors (see the module docs).

    Args:
        interval: Seconds between two records of one client-error message.
        clock: Monotonic time source (injectable for tests).
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        #: message -> (time it was last let through, how many were left out since)
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def reset(self, interval: float) -> None:
        """Forget every client error seen so far; throttle by ``interval`` from now on."""
        with self._lock:
            self.interval = interval
            self._seen.clear()

    def filter(self, record: logging.LogRecord) -> bool:
        if self._is_client_error(record):
            if record.levelno > logging.WARNING:  # a client's mistake is no server error
                record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            if not self._let_through(record):
                return False
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True

    @staticmethod
    def _is_client_error(record: logging.LogRecord) -> bool:
        if getattr(record, "client_error", False) or getattr(record, "throttle", False):
            return True
        if not isinstance(record.msg, str):
            return False
        # asyncio's handler appends lines (the socket) to its message.
        first = _first_line(record.msg)
        return first in CLIENT_ERROR_MESSAGES or first.startswith(CLIENT_ERROR_PREFIXES)

    def _let_through(self, record: logging.LogRecord) -> bool:
        key = (record.name, _first_line(str(record.msg)))
        now = self._clock()
        with self._lock:
            last, left_out = self._seen.get(key, (None, 0))
            if last is not None and now - last < self.interval:
                self._seen[key] = (last, left_out + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 1_000:  # many distinct messages: forget the oldest half
                for stale in sorted(self._seen, key=lambda k: self._seen[k][0])[:500]:
                    del self._seen[stale]
        if left_out:
            record.msg = f"{record.getMessage()} [and {left_out} more like it since the last one]"
            record.args = None
        return True


_installed: SafeLogFilter | None = None


def install_log_safety(interval: float = 10.0) -> SafeLogFilter:
    """Put the one :class:`SafeLogFilter` on :data:`LOGGERS` (idempotent).

    uvicorn reconfigures its loggers when a server is configured, but keeps
    their filters; call this after building the server anyway. Each call (a new
    server) starts the throttling afresh.
    """
    global _installed
    if _installed is None:
        _installed = SafeLogFilter(interval)
    _installed.reset(interval)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _installed not in logger.filters:
            logger.addFilter(_installed)
    return _installed
