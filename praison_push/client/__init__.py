"""The async client: ``AsyncPushClient`` (alias ``PushClient``) and its transports.

``PushClient`` keeps the seed's name (``praisonai.push.PushClient``) so code
written for PraisonAI push runs unchanged; ``AsyncPushClient`` says what it is
beside the blocking :class:`praison_push.sync.PushClient`.
"""

from __future__ import annotations

from praison_push.protocol import (
    AuthenticationFailed,
    Backoff,
    ConnectionClosedError,
    ExecutionFailed,
    FrameError,
    NotConnectedError,
    PushError,
    RequestRefused,
    TransportError,
)

from .client import AsyncPushClient
from .dispatch import Handler
from .execution import EventCallback, Execution, ExecutionIterator
from .fallback import TransportChooser
from .http_transport import PollingTransport, SSETransport
from .streams import MessageStream
from .transport import PushTransportProtocol, TransportFactory
from .values import ChannelMessage, ExecutionEvent, PresenceInfo, PresenceSnapshot, PublishReceipt
from .websocket import WebSocketTransport

PushClient = AsyncPushClient

__all__ = [
    "AsyncPushClient",
    "AuthenticationFailed",
    "Backoff",
    "ChannelMessage",
    "ConnectionClosedError",
    "EventCallback",
    "Execution",
    "ExecutionEvent",
    "ExecutionFailed",
    "ExecutionIterator",
    "FrameError",
    "Handler",
    "MessageStream",
    "NotConnectedError",
    "PollingTransport",
    "PresenceInfo",
    "PresenceSnapshot",
    "PublishReceipt",
    "PushClient",
    "PushError",
    "PushTransportProtocol",
    "RequestRefused",
    "SSETransport",
    "TransportChooser",
    "TransportError",
    "TransportFactory",
    "WebSocketTransport",
]
