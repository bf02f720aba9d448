"""Domain helpers of the server tests: log capture, the ``serve`` fixture's type, and
reading publications off a raw client. Raw clients and waits come from ``support``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from support import next_frame
from websockets.asyncio.client import ClientConnection

from praison_push.server import GatewayThread

#: The ``serve`` fixture: ``serve(config=None, **GatewayConfig fields)`` starts a gateway.
Serve = Callable[..., GatewayThread]

LOGGERS = ("", "praison_push", "uvicorn", "uvicorn.error", "uvicorn.asgi")


class LogCapture(logging.Handler):
    """Keeps every record; attached to the root and to uvicorn's non-propagating logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def attach(self, uvicorn_level: int = logging.WARNING) -> None:
        for name in ("", "uvicorn"):
            logger = logging.getLogger(name)
            if self not in logger.handlers:
                logger.addHandler(self)
        logging.getLogger("praison_push").setLevel(logging.DEBUG)
        logging.getLogger("uvicorn.error").setLevel(uvicorn_level)

    def detach(self) -> None:
        for name in ("", "uvicorn"):
            logging.getLogger(name).removeHandler(self)

    def tracebacks(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.exc_info or r.levelno >= logging.ERROR]

    def text(self, exclude: tuple[str, ...] = ()) -> str:
        """Every captured message (and its exception text), joined."""
        parts = []
        for record in self.records:
            if record.name.startswith(exclude):
                continue
            parts.append(record.getMessage())
            if record.exc_text:
                parts.append(record.exc_text)
        return "\n".join(parts)


async def messages(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` ``channel_message`` frames, skipping presence and other events."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        frame = await next_frame(ws)
        if frame["type"] == "channel_message":
            found.append(frame)
    return found
