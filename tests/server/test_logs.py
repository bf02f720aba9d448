"""The log filter: credentials redacted in every shape, client errors throttled with a count."""

from __future__ import annotations

import logging

import pytest

from praison_push.server.logs import SafeLogFilter, redact


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("< authorization: Bearer abc123", "abc123"),
        ("> Authorization: Bearer abc123", "abc123"),
        ("< cookie: session=abc123", "abc123"),
        ('127.0.0.1:1 - "GET /health?token=abc123 HTTP/1.1" 200', "abc123"),
        ("GET /ws?client_id=x&access_token=abc123&y=1", "abc123"),
        ('< TEXT \'{"type":"auth","token":"abc123"}\' [32 bytes]', "abc123"),
        ('> TEXT \'{"type":"auth","payload":{"to...abc123"}}\' [300 bytes]', "abc123"),
        ("token=abc123", "abc123"),
        ("{'token': 'abc123'}", "abc123"),
        ("a JWT eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.sig in text", "eyJzdWIiOiJhIn0"),
    ],
)
def test_credentials_are_redacted(line: str, secret: str) -> None:
    safe = redact(line)
    assert secret not in safe
    assert "[redacted]" in safe


def test_ordinary_lines_are_untouched() -> None:
    for line in ("refused a connection: bad token", '< TEXT \'{"type":"ping"}\' [15 bytes]'):
        assert redact(line) == line


def _record(msg: str, level: int = logging.ERROR, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("uvicorn.error", level, __file__, 1, msg, None, None)
    try:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    except UnicodeDecodeError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    record.__dict__.update(extra)
    return record


def test_client_errors_lose_their_traceback_and_are_throttled_with_a_count() -> None:
    now = [0.0]
    safety = SafeLogFilter(interval=10.0, clock=lambda: now[0])
    message = "Invalid UTF-8 sequence received from client."
    first = _record(message)
    assert safety.filter(first)
    assert first.exc_info is None and first.levelno == logging.WARNING
    passed = [safety.filter(_record(message)) for _ in range(299)]
    assert not any(passed)
    now[0] = 10.5
    later = _record(message)
    assert safety.filter(later)
    assert "299 more" in later.getMessage()
    # Our own records opt in with extra={"client_error": True}.
    ours = _record("refused a connection: %s", logging.INFO, client_error=True)
    ours.args = ("bad token",)
    assert safety.filter(ours) and ours.exc_info is None
    # Anything else keeps its traceback: a server bug must stay visible.
    bug = _record("Exception in ASGI application")
    assert safety.filter(bug) and bug.exc_info is not None and bug.levelno == logging.ERROR


def test_running_out_of_file_descriptors_does_not_flood() -> None:
    now = [0.0]
    safety = SafeLogFilter(interval=5.0, clock=lambda: now[0])
    record = logging.LogRecord(
        "asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource", None, None
    )
    assert safety.filter(record)
    kept = 0
    for step in range(1000):  # asyncio retries accept() every second: 1,000 s of it
        now[0] = step * 1.0
        again = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, record.msg, None, None)
        kept += safety.filter(again)
    assert kept <= 1000 / 5 + 1


def test_records_marked_throttle_are_throttled_too() -> None:
    now = [0.0]
    safety = SafeLogFilter(interval=10.0, clock=lambda: now[0])
    message = "backend unavailable for a frame from %s: %s"

    def record(n: int) -> logging.LogRecord:
        made = logging.LogRecord(
            "praison_push.hub", logging.WARNING, __file__, 1, message, (f"c{n}", "down"), None
        )
        made.throttle = True
        return made

    assert [safety.filter(record(n)) for n in range(50)].count(True) == 1
