"""Error codes and close codes of the wire contract (PROTOCOL.md §6).

Codes are ranged like centrifuge's disconnect codes: a client reconnects after
the codes listed in :data:`RECONNECT_CLOSE_CODES` and gives up after the rest
of the 4000–4099 range, which means "do not try again with the same input".
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = ["RECONNECT_CLOSE_CODES", "CloseCode", "ErrorCode", "should_reconnect"]


class ErrorCode(str, Enum):
    """The ``code`` of an ``error`` frame (PROTOCOL.md §6)."""

    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELD = "invalid_field"
    TOO_LARGE = "too_large"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_AGENT = "unknown_agent"
    LIMIT_EXCEEDED = "limit_exceeded"
    INTERNAL = "internal"

    def __str__(self) -> str:
        return self.value


class CloseCode(IntEnum):
    """WebSocket close codes the gateway uses (PROTOCOL.md §6)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SLOW_CONSUMER = 1013
    AUTH_FAILED = 4001
    IDLE_TIMEOUT = 4002
    AUTH_REQUIRED = 4003
    CONNECTION_LIMIT = 4008
    RATE_LIMIT = 4029


#: Close codes after which a client should reconnect (and recover from history).
RECONNECT_CLOSE_CODES: frozenset[int] = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SLOW_CONSUMER,
        CloseCode.IDLE_TIMEOUT,
        1005,  # no status received
        1006,  # abnormal closure (network drop, server killed)
        1012,  # service restart
        1014,  # bad gateway
    }
)


def should_reconnect(code: int | None) -> bool:
    """Tell whether a connection closed with ``code`` is worth re-opening.

    ``None`` (the connection vanished without a close frame) counts as a network
    failure. 1000 is a deliberate close by the server; 4000–4099 are terminal
    unless listed in :data:`RECONNECT_CLOSE_CODES`; any other code (1002, 1003,
    1007, 1008, 1009, 1010) means the client sent something the server cannot
    take, and repeating it would fail the same way.
    """
    if code is None:
        return True
    return code in RECONNECT_CLOSE_CODES
