"""Sans-I/O protocol core: frames, codec, codes, errors, backoff, receive state, runs.

Imports only the standard library and pydantic; no asyncio, no sockets and no
clock reads (time comes in as an argument). Everything above builds on it.
"""

from __future__ import annotations

from .backoff import Backoff
from .codec import decode_client_frame, decode_object, encode_frame, encode_json
from .codes import RECONNECT_CLOSE_CODES, CloseCode, ErrorCode, should_reconnect
from .errors import (
    AuthenticationFailed,
    ConnectionClosedError,
    ExecutionFailed,
    FrameError,
    NotConnectedError,
    PushError,
    RequestRefused,
    TransportError,
)
from .frames import CHANNEL_NAME_PATTERN, ClientFrame
from .tracking import ReceiveTracker

PROTOCOL_VERSION = "praison-push/1"

__all__ = [
    "CHANNEL_NAME_PATTERN",
    "PROTOCOL_VERSION",
    "RECONNECT_CLOSE_CODES",
    "AuthenticationFailed",
    "Backoff",
    "ClientFrame",
    "CloseCode",
    "ConnectionClosedError",
    "ErrorCode",
    "ExecutionFailed",
    "FrameError",
    "NotConnectedError",
    "PushError",
    "ReceiveTracker",
    "RequestRefused",
    "TransportError",
    "decode_client_frame",
    "decode_object",
    "encode_frame",
    "encode_json",
    "should_reconnect",
]
