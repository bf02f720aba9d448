"""The hub: everything a gateway does, independent of web framework and backend.

:class:`Hub` is the face transports use (``authenticate``, ``connect``,
``receive``, ``disconnect``); a :class:`Connection` is one client connection,
whatever carries it.
"""

from __future__ import annotations

from .auth import AuthenticateHook, Authenticator, AuthError, AuthRequest
from .channels import Channel, ChannelRegistry
from .connection import Connection, FrameSink
from .hub import Hub
from .limits import ConnectionLimiter, LimitExceeded
from .principal import ANONYMOUS, OPERATOR, Principal
from .run_manager import RunManager, RunRecord

__all__ = [
    "ANONYMOUS",
    "OPERATOR",
    "AuthError",
    "AuthRequest",
    "AuthenticateHook",
    "Authenticator",
    "Channel",
    "ChannelRegistry",
    "Connection",
    "ConnectionLimiter",
    "FrameSink",
    "Hub",
    "LimitExceeded",
    "Principal",
    "RunManager",
    "RunRecord",
]
