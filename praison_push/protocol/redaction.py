"""Credentials out of log lines: the one redaction every side applies.

:func:`redact` replaces what looks like a credential in a formatted log line —
``Authorization``/``Cookie`` headers, ``?token=``, ``"token"`` fields, bearer
tokens, JWTs, and the whole payload of a logged WebSocket frame that mentions a
token or ``auth`` (websockets shortens long frames, so a token could straddle
the cut). :class:`RedactingFilter` applies it to every record of the loggers it
is put on; :func:`install_redaction` puts one on the loggers a client writes to
(the gateway's :mod:`praison_push.server.logs` adds throttling on top).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["REDACTED", "RedactingFilter", "install_redaction", "redact"]

REDACTED = "[redacted]"

_HEADER = re.compile(
    r"(?im)^([<>]?\s*(?:authorization|proxy-authorization|cookie|set-cookie|"
    r"sec-websocket-protocol)\s*:\s*).*$"
)
_QUERY = re.compile(r"(?i)([?&](?:access_)?token=)[^&\s\"'#]*")
_JSON_TOKEN = re.compile(r"""(?i)(["']?(?:access_|refresh_)?token["']?\s*[:=]\s*["']?)[^"',}\s]*""")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]*\.?[\w-]*")
#: A frame logged by websockets / uvicorn's sansio protocol: ``< TEXT '…' [n bytes]``.
_FRAME = re.compile(r"^([<>] (?:TEXT|BINARY|CONT) ).*?(\[[^\]]*bytes\])?$", re.S)
_SENSITIVE_FRAME = re.compile(r"(?i)token|auth|bearer|eyJ")


def redact(text: str) -> str:
    """``text`` with every credential this module knows how to spot replaced."""
    frame = _FRAME.match(text)
    if frame is not None and _SENSITIVE_FRAME.search(text):
        return f"{frame.group(1)}{REDACTED} {frame.group(2) or ''}".rstrip()
    if not _SENSITIVE_FRAME.search(text) and "cookie" not in text.lower():
        return text  # the common case: nothing that could be a credential
    text = _HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JSON_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _JWT.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with :func:`redact` (only when it changes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True


#: The loggers a client process writes credentials to at ``DEBUG``.
CLIENT_LOGGERS = ("websockets.client", "httpx", "httpcore.http11", "praison_push.client")

_filter = RedactingFilter()


def install_redaction(names: Iterable[str] = CLIENT_LOGGERS) -> None:
    """Put the redacting filter on the loggers ``names`` (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
