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

from .helpers import LOGGERS, LogCapture, Serve


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


@pytest.fixture
def serve(gateway_factory: Callable[..., GatewayThread], logs: LogCapture) -> Serve:
    """Start a gateway (``serve(config=None, **GatewayConfig fields)``) with logs captured."""

    def start(config: GatewayConfig | None = None, **fields: Any) -> GatewayThread:
        thread = gateway_factory(config, **fields)
        logs.attach()
        return thread

    return start


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a line to the terminal even while pytest captures output: the counts of
    the hostile-input tests (frames sent, errors, deliveries, peak RSS) show in CI."""

    def say(line: str) -> None:
        with capsys.disabled():
            print(line)

    return say
