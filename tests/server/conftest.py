"""Server fixtures: gateways on real uvicorn, with every log record captured.

uvicorn's ``dictConfig`` drops the handlers of its loggers whenever a server
is configured, so :func:`serve` re-attaches the capture after each start.
After every test, no record may carry a traceback (``exc_info``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from praison_push.config import GatewayConfig
from praison_push.server import GatewayThread

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


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    capture = LogCapture()
    capture.attach()
    yield capture
    capture.detach()
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True)
def _no_tracebacks(logs: LogCapture) -> Iterator[None]:
    yield
    bad = logs.tracebacks()
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


Serve = Callable[..., GatewayThread]


@pytest.fixture
def serve(gateway_factory: Callable[..., GatewayThread], logs: LogCapture) -> Serve:
    """Start a gateway (``serve(config=None, **GatewayConfig fields)``) with logs captured."""

    def start(config: GatewayConfig | None = None, **fields: Any) -> GatewayThread:
        thread = gateway_factory(config, **fields)
        logs.attach()
        return thread

    return start
