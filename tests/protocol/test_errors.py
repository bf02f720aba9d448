"""The exception tree: one root, and ``FrameError`` maps onto an ``error`` frame."""

from __future__ import annotations

import pytest

from praison_push.protocol import (
    AuthenticationFailed,
    ConnectionClosedError,
    ErrorCode,
    FrameError,
    NotConnectedError,
    PushError,
    RequestRefused,
    TransportError,
)


def test_tree() -> None:
    assert issubclass(FrameError, PushError)
    assert issubclass(RequestRefused, PushError)
    assert issubclass(AuthenticationFailed, RequestRefused)
    assert issubclass(TransportError, PushError)
    assert issubclass(NotConnectedError, TransportError)
    assert issubclass(ConnectionClosedError, TransportError)
    # No builtin name is reused (redis-py's ConnectionError is the counter-example).
    assert not issubclass(ConnectionClosedError, ConnectionError)
    assert not issubclass(PushError, (ValueError, OSError))


def test_frame_error_without_extras() -> None:
    error = FrameError(ErrorCode.BAD_FRAME, "frame is not valid JSON")
    assert str(error) == "frame is not valid JSON"
    assert (error.field, error.limit, error.details) == (None, None, {})
    assert error.to_error_fields() == {"code": "bad_frame", "message": "frame is not valid JSON"}


def test_frame_error_names_field_and_limit_in_details() -> None:
    error = FrameError(
        ErrorCode.TOO_LARGE, "too big", field="data", limit="max_message_size", details={"max": 9}
    )
    assert error.to_error_fields() == {
        "code": "too_large",
        "message": "too big",
        "details": {"max": 9, "field": "data", "limit": "max_message_size"},
    }


def test_explicit_details_win_and_are_copied() -> None:
    details = {"field": "explicit"}
    error = FrameError(ErrorCode.INVALID_FIELD, "m", field="channel", details=details)
    assert error.details == {"field": "explicit"}
    error.details["x"] = 1
    assert details == {"field": "explicit"}


def test_request_refused_keeps_unknown_codes() -> None:
    error = RequestRefused("brand_new_code", "nope", {"retry_after": 2})
    assert str(error) == "brand_new_code: nope"
    assert (error.code, error.message, error.details) == (
        "brand_new_code",
        "nope",
        {"retry_after": 2},
    )
    assert RequestRefused("forbidden", "m").details == {}


def test_authentication_failed_is_caught_as_refusal() -> None:
    with pytest.raises(RequestRefused) as info:
        raise AuthenticationFailed("auth_required", "a valid token is required")
    assert info.value.code == "auth_required"


def test_connection_closed_carries_code_and_reason() -> None:
    error = ConnectionClosedError(1013, "send queue full")
    assert (error.code, error.reason) == (1013, "send queue full")
    assert "1013" in str(error)
    assert "send queue full" in str(error)
    vanished = ConnectionClosedError(None)
    assert vanished.code is None
    assert vanished.reason == ""


def test_execution_failed_carries_the_runs_error() -> None:
    from praison_push.protocol.errors import ExecutionFailed, PushError

    error = ExecutionFailed(
        "AGENT_FAILED", "boom", execution_id="exec_1", details={"tool_name": "t"}
    )
    assert isinstance(error, PushError)
    assert str(error) == "AGENT_FAILED: boom"
    assert (error.code, error.message, error.execution_id, error.status) == (
        "AGENT_FAILED",
        "boom",
        "exec_1",
        "failed",
    )
    assert error.details == {"tool_name": "t"}
    assert ExecutionFailed("CANCELLED", "cancelled", status="cancelled").details == {}
