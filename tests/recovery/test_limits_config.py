"""The limits issue 12 adds are checked where they are configured: a clear error
naming the field and its bound."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from praison_push.client import AsyncPushClient
from praison_push.config import HistoryConfig, LimitsConfig


def test_history_max_memory_bytes_has_a_floor() -> None:
    assert HistoryConfig().max_memory_bytes == 128 * 1024 * 1024
    with pytest.raises(ValidationError, match="max_memory_bytes"):
        HistoryConfig(max_memory_bytes=1_000)


def test_replay_stall_timeout_is_positive_and_bounded() -> None:
    assert LimitsConfig().replay_stall_timeout == 30.0
    for bad in (0, 7_200):
        with pytest.raises(ValidationError, match="replay_stall_timeout"):
            LimitsConfig(replay_stall_timeout=bad)


def test_slow_consumer_policies_take_two_policies_and_at_most_100_patterns() -> None:
    assert LimitsConfig().slow_consumer_policies == {}
    with pytest.raises(ValidationError, match="slow_consumer_policies"):
        LimitsConfig(slow_consumer_policies={f"p{n}": "drop" for n in range(101)})


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_queued_messages_must_be_a_positive_int(bad: object) -> None:
    with pytest.raises(ValueError, match="max_queued_messages"):
        AsyncPushClient("ws://127.0.0.1:1/ws", max_queued_messages=bad)  # type: ignore[arg-type]


def test_the_sync_client_takes_and_checks_max_queued_messages_too() -> None:
    from praison_push.sync import PushClient

    with pytest.raises(ValueError, match="max_queued_messages"):
        PushClient("ws://127.0.0.1:1/ws", max_queued_messages=0)
    client = PushClient("ws://127.0.0.1:1/ws", max_queued_messages=5)
    try:
        assert client._client._driver._max_queued == 5
    finally:
        client.close()
