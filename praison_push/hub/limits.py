"""Connection-count limits: global, per IP, per user and per org (PROTOCOL.md §7)."""

from __future__ import annotations

import ipaddress
from collections import Counter

from ..config import LimitsConfig
from .principal import Principal

__all__ = ["ConnectionLimiter", "LimitExceeded"]


class LimitExceeded(Exception):
    """A new connection would pass a configured limit.

    Attributes:
        limit: The name of the ``LimitsConfig`` field that refused it.
        maximum: That field's value.
    """

    def __init__(self, limit: str, maximum: int) -> None:
        super().__init__(f"{limit}={maximum} reached")
        self.limit = limit
        self.maximum = maximum


def _is_loopback(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


class ConnectionLimiter:
    """Counts open connections and refuses ones past the limits.

    Anonymous connections (no known user or org) are bounded only by the
    global and per-IP limits; loopback peers skip the per-IP limit unless
    ``loopback_exempt`` is off.
    """

    def __init__(self, config: LimitsConfig) -> None:
        self._config = config
        self.total = 0
        self._per_ip: Counter[str] = Counter()
        self._per_user: Counter[str] = Counter()
        self._per_org: Counter[str] = Counter()

    def _ip_limited(self, peer: str) -> bool:
        return not (self._config.loopback_exempt and _is_loopback(peer))

    def acquire(self, peer: str, principal: Principal) -> None:
        """Count a new connection, or raise :class:`LimitExceeded`."""
        config = self._config
        if self.total >= config.max_connections:
            raise LimitExceeded("max_connections", config.max_connections)
        if self._ip_limited(peer) and self._per_ip[peer] >= config.max_connections_per_ip:
            raise LimitExceeded("max_connections_per_ip", config.max_connections_per_ip)
        user, org = principal.user_id, principal.org_id
        if user is not None and self._per_user[user] >= config.max_connections_per_user:
            raise LimitExceeded("max_connections_per_user", config.max_connections_per_user)
        if org is not None and self._per_org[org] >= config.max_connections_per_org:
            raise LimitExceeded("max_connections_per_org", config.max_connections_per_org)
        self.total += 1
        if self._ip_limited(peer):
            self._per_ip[peer] += 1
        if user is not None:
            self._per_user[user] += 1
        if org is not None:
            self._per_org[org] += 1

    def release(self, peer: str, principal: Principal) -> None:
        """Forget a connection counted by :meth:`acquire`."""
        self.total -= 1
        if self._ip_limited(peer):
            _decrement(self._per_ip, peer)
        if principal.user_id is not None:
            _decrement(self._per_user, principal.user_id)
        if principal.org_id is not None:
            _decrement(self._per_org, principal.org_id)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
