"""Error and close codes, and which closes are worth a reconnect (PROTOCOL.md §6)."""

from __future__ import annotations

import pytest

from praison_push.protocol import RECONNECT_CLOSE_CODES, CloseCode, ErrorCode, should_reconnect


def test_error_codes_are_the_wire_strings() -> None:
    assert {code.value for code in ErrorCode} == {
        "bad_frame",
        "unknown_type",
        "invalid_field",
        "too_large",
        "unauthorized",
        "forbidden",
        "rate_limited",
        "unknown_channel",
        "unknown_agent",
        "limit_exceeded",
        "internal",
    }
    assert str(ErrorCode.TOO_LARGE) == "too_large"
    assert f"{ErrorCode.BAD_FRAME}" == "bad_frame"
    assert ErrorCode("forbidden") is ErrorCode.FORBIDDEN


def test_close_codes_match_the_contract() -> None:
    assert CloseCode.NORMAL.value == 1000
    assert CloseCode.MESSAGE_TOO_BIG.value == 1009
    assert CloseCode.SLOW_CONSUMER.value == 1013
    assert CloseCode.AUTH_FAILED.value == 4001
    assert CloseCode.IDLE_TIMEOUT.value == 4002
    assert CloseCode.AUTH_REQUIRED.value == 4003
    assert CloseCode.CONNECTION_LIMIT.value == 4008
    assert CloseCode.RATE_LIMIT.value == 4029


@pytest.mark.parametrize(
    "code", [None, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 4002, CloseCode.SLOW_CONSUMER]
)
def test_reconnect_after_network_failures_restarts_and_liveness(code: int | None) -> None:
    assert should_reconnect(code)


@pytest.mark.parametrize(
    "code", [1000, 1002, 1003, 1007, 1008, 1009, 1010, 4000, 4001, 4003, 4008, 4029, 4099, 3000]
)
def test_terminal_codes_do_not_reconnect(code: int) -> None:
    assert not should_reconnect(code)


def test_reconnect_set_is_exactly_the_listed_codes() -> None:
    assert frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014, 4002}) == RECONNECT_CLOSE_CODES
