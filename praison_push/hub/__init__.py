"""The hub: everything a gateway does, independent of web framework and backend."""

from __future__ import annotations

from .auth import Authenticator
from .channels import Channel, ChannelRegistry
from .hub import Hub
from .limits import ConnectionLimiter, LimitExceeded
from .session import ANONYMOUS, Principal, Session

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Channel",
    "ChannelRegistry",
    "ConnectionLimiter",
    "Hub",
    "LimitExceeded",
    "Principal",
    "Session",
]
