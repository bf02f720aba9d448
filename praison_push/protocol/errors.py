"""The exception tree of praison_push: one root, no builtin names reused.

::

    PushError
    ├── FrameError              a frame that breaks the contract (carries code, field, limit)
    ├── RequestRefused          the gateway answered a request with an ``error`` frame
    │   └── AuthenticationFailed    the gateway refused the credentials (4001/4003)
    ├── ExecutionFailed         an agent run ended with ``execution_error`` (failed or cancelled)
    └── TransportError          the connection could not be opened or was lost
        ├── NotConnectedError       a request was made while no connection is up
        └── ConnectionClosedError   the connection closed (carries code and reason)

``wait_for`` and request timeouts raise the standard :class:`TimeoutError`
(``asyncio.TimeoutError`` is the same class on Python >= 3.11), as the seed API
documents.
"""

from __future__ import annotations

from typing import Any

from .codes import ErrorCode

__all__ = [
    "AuthenticationFailed",
    "ConnectionClosedError",
    "ExecutionFailed",
    "FrameError",
    "NotConnectedError",
    "PushError",
    "RequestRefused",
    "TransportError",
]


class PushError(Exception):
    """Root of every error praison_push raises on purpose."""


class FrameError(PushError):
    """A frame that cannot be accepted.

    Raised by the codec on both sides; the gateway turns it into an ``error``
    frame, so :meth:`to_error_fields` gives exactly that frame's fields.

    Attributes:
        code: The wire error code (``bad_frame``, ``invalid_field`` …).
        field: The offending field, when one is to blame.
        limit: The name of the limit that was exceeded, for ``too_large``.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        limit: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.limit = limit
        self.details = dict(details or {})
        if field is not None:
            self.details.setdefault("field", field)
        if limit is not None:
            self.details.setdefault("limit", limit)

    def to_error_fields(self) -> dict[str, Any]:
        """The ``code``/``message``/``details`` of the matching ``error`` frame."""
        fields: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.details:
            fields["details"] = self.details
        return fields


class RequestRefused(PushError):
    """The gateway answered a request with an ``error`` frame.

    Attributes:
        code: The wire error code as sent (a string, so unknown codes survive).
        message: The gateway's human-readable message.
        details: Extra fields, e.g. ``field``, ``limit`` or ``retry_after``.
    """

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = dict(details or {})


class AuthenticationFailed(RequestRefused):
    """The gateway refused the token (``hello_error``/``auth_error``)."""


class ExecutionFailed(PushError):
    """An agent run ended without an answer: it failed or was cancelled (PROTOCOL.md §4).

    Not a :class:`RequestRefused`: the gateway accepted the run, and the
    failure arrived later as the run's ``execution_error`` event.

    Attributes:
        code: The run's error code as sent (``AGENT_FAILED``,
            ``TOOL_EXECUTION_FAILED``, ``CANCELLED`` …), a string so unknown
            codes survive.
        message: The gateway's human-readable message.
        execution_id: The run that ended.
        status: ``"failed"`` or ``"cancelled"``.
        details: Extra fields of the error, e.g. ``tool_name``.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        execution_id: str = "",
        status: str = "failed",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.execution_id = execution_id
        self.status = status
        self.details = dict(details or {})


class TransportError(PushError):
    """The connection to the gateway could not be opened, or it broke."""


class NotConnectedError(TransportError):
    """A request was made while the client has no open connection."""


class ConnectionClosedError(TransportError):
    """The connection closed.

    Attributes:
        code: The WebSocket close code, or ``None`` when no close frame arrived.
        reason: The close reason the peer gave, if any.
    """

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed (code={code}, reason={reason!r})")
        self.code = code
        self.reason = reason
