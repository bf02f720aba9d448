"""Connection-count limits: global, per IP, per user and per org (PROTOCOL.md §7)."""

from __future__ import annotations

import ipaddress
from collections import Counter

from ..config import LimitsConfig
from .principal import Principal

__all__ = ["AttemptLimiter", "ConnectionLimiter", "LimitExceeded", "TokenBucket", "is_loopback"]


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


def is_loopback(peer: str) -> bool:
    """Whether ``peer`` (an IP address as text) is a loopback address."""
    return _is_loopback(peer)


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


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; :meth:`take` spends one.

    Times come from the caller (any clock in seconds), so the bucket is pure.
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> float:
        """Spend a token: ``0.0`` when there was one, else the seconds until there is."""
        # A clock stepping back refills nothing (the hub's clock is wall time).
        tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely by ``now``."""
        return self.tokens + max(0.0, now - self.stamp) * self.rate >= self.burst


class AttemptLimiter:
    """Connection attempts per IP: a :class:`TokenBucket` per peer address.

    Loopback peers are exempt while ``exempt_loopback``. Buckets that have
    refilled are forgotten now and then, so the table stays as small as the set
    of peers currently connecting fast.

    Args:
        rate: Attempts per second a peer may make, sustained.
        burst: Attempts a peer may make at once.
        exempt_loopback: Let loopback peers through unchecked.
    """

    #: Entries kept before refilled buckets are swept out.
    SWEEP_AT = 10_000

    def __init__(self, rate: float, burst: int, *, exempt_loopback: bool = True) -> None:
        self.rate = rate
        self.burst = burst
        self.exempt_loopback = exempt_loopback
        self._buckets: dict[str, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def attempt(self, peer: str, now: float) -> float:
        """Count an attempt: ``0.0`` when allowed, else the seconds until one would be."""
        if not peer or (self.exempt_loopback and _is_loopback(peer)):
            return 0.0
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= self.SWEEP_AT:
                self._sweep(now)
            bucket = self._buckets[peer] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    def _sweep(self, now: float) -> None:
        for peer in [p for p, bucket in self._buckets.items() if bucket.full(now)]:
            del self._buckets[peer]
