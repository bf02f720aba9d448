"""Argument checks run before anything is sent, so mistakes fail early and by name.

The gateway validates every frame too (PROTOCOL.md §6), but an error raised
here names the argument the caller wrote instead of a wire field, and costs no
round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from praison_push.protocol import CHANNEL_NAME_PATTERN

from .values import ChannelMessage

__all__ = [
    "MAX_EXECUTION_ID_LENGTH",
    "MAX_HISTORY_LIMIT",
    "MAX_ID_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_STATUS_LENGTH",
    "check_approval",
    "check_channel",
    "check_limit",
    "check_metadata",
    "check_options",
    "check_since",
    "check_text",
    "check_timeout",
    "execute_frame",
]

#: Limits of the wire contract (``protocol/frames.py``), checked before sending.
MAX_ID_LENGTH = 128
MAX_STATUS_LENGTH = 64
MAX_HISTORY_LIMIT = 10_000
#: Longest agent, execution and session id the gateway accepts.
MAX_EXECUTION_ID_LENGTH = 200
#: Longest ``reason`` of an approval answer (the gateway refuses longer ones).
MAX_REASON_LENGTH = 2_000


def check_channel(channel: object) -> str:
    """A valid channel name (PROTOCOL.md §2), else ``TypeError``/``ValueError`` naming it."""
    if not isinstance(channel, str):
        raise TypeError(f"channel must be a str, got {type(channel).__name__}")
    if CHANNEL_NAME_PATTERN.fullmatch(channel) is None:
        raise ValueError(
            f"invalid channel {channel[:60]!r}: use 1-200 characters of [A-Za-z0-9_.:@#/-]"
            " (a leading '$' marks gateway-reserved channels)"
        )
    return channel


def check_metadata(metadata: object) -> dict[str, Any]:
    """A metadata dict (its JSON-serialisability is checked when it is sent)."""
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    return metadata


def check_timeout(value: object, name: str, *, allow_none: bool) -> None:
    """A positive number of seconds (or ``None`` when that means "no limit")."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def check_since(since: ChannelMessage | Mapping[str, Any]) -> dict[str, Any]:
    """The wire ``since`` (``{offset, epoch}``) from a received message or a mapping."""
    if isinstance(since, ChannelMessage):
        offset, epoch = since.offset, since.epoch
    elif isinstance(since, Mapping):
        offset, epoch = since.get("offset"), since.get("epoch")
    else:
        raise TypeError(f"since must be a ChannelMessage or a mapping, got {since!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"since needs an 'offset' >= 0, got {offset!r}")
    if not isinstance(epoch, str):
        raise ValueError(f"since needs an 'epoch' string, got {epoch!r}")
    return {"offset": offset, "epoch": epoch}


def check_text(value: object, name: str, max_length: int) -> str:
    """A non-empty string of at most ``max_length`` characters (an id, a status)."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise ValueError(f"{name} must be a string of 1-{max_length} characters, got {value!r}")
    return value


def check_limit(limit: object) -> int:
    """A ``channel.history`` ``limit``: an int within 1-``MAX_HISTORY_LIMIT``."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError(f"limit must be an int, got {limit!r}")
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ValueError(f"limit must be within 1-{MAX_HISTORY_LIMIT}, got {limit}")
    return limit


def check_options(
    url: object,
    client_id: object,
    request_timeout: object,
    max_reconnect_attempts: object,
    max_queued_messages: object = 1,
) -> None:
    """The client constructor's arguments that are checked before anything is built."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"url must be a non-empty string, got {url!r}")
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise ValueError(f"client_id must be a non-empty string or None, got {client_id!r}")
    check_timeout(request_timeout, "request_timeout", allow_none=False)
    if max_reconnect_attempts is not None and (
        isinstance(max_reconnect_attempts, bool)
        or not isinstance(max_reconnect_attempts, int)
        or max_reconnect_attempts < 0
    ):
        raise ValueError(f"max_reconnect_attempts must be >= 0, got {max_reconnect_attempts!r}")
    if (
        isinstance(max_queued_messages, bool)
        or not isinstance(max_queued_messages, int)
        or max_queued_messages < 1
    ):
        raise ValueError(f"max_queued_messages must be an int >= 1, got {max_queued_messages!r}")


def check_approval(
    execution_id: object, tool_call_id: object, approved: object, reason: object
) -> str | None:
    """An ``execution.approve``'s fields; the ``reason`` to send (``""`` means none)."""
    check_text(execution_id, "execution_id", MAX_EXECUTION_ID_LENGTH)
    check_text(tool_call_id, "tool_call_id", MAX_EXECUTION_ID_LENGTH)
    if not isinstance(approved, bool):
        raise TypeError(f"approved must be a bool, got {type(approved).__name__}")
    if reason is None or reason == "":
        return None
    return check_text(reason, "reason", MAX_REASON_LENGTH)


def execute_frame(agent_id: object, input: object, session_id: object) -> dict[str, Any]:
    """The ``execute`` frame of a run request, its fields checked."""
    check_text(agent_id, "agent_id", MAX_EXECUTION_ID_LENGTH)
    if not isinstance(input, str):
        raise TypeError(f"input must be a str, got {type(input).__name__}")
    frame: dict[str, Any] = {"type": "execute", "agent_id": agent_id, "input": input}
    if session_id is not None:
        frame["session_id"] = check_text(session_id, "session_id", MAX_EXECUTION_ID_LENGTH)
    return frame
