"""Connection limits: global, per IP (loopback exemption), per user, per org (PROTOCOL.md §7)."""

from __future__ import annotations

import pytest

from praison_push.config import LimitsConfig
from praison_push.hub import ANONYMOUS, ConnectionLimiter, LimitExceeded, Principal

from .helpers import MakeHub, join


def refused(limiter: ConnectionLimiter, peer: str, principal: Principal = ANONYMOUS) -> str:
    with pytest.raises(LimitExceeded) as info:
        limiter.acquire(peer, principal)
    return info.value.limit


def test_limit_exceeded_names_the_limit() -> None:
    error = LimitExceeded("max_connections", 3)
    assert (error.limit, error.maximum) == ("max_connections", 3)
    assert str(error) == "max_connections=3 reached"


def test_global_limit_and_release() -> None:
    limiter = ConnectionLimiter(LimitsConfig(max_connections=2))
    limiter.acquire("127.0.0.1", ANONYMOUS)
    limiter.acquire("10.0.0.1", ANONYMOUS)
    assert refused(limiter, "10.0.0.2") == "max_connections"
    assert limiter.total == 2
    limiter.release("10.0.0.1", ANONYMOUS)
    limiter.acquire("10.0.0.2", ANONYMOUS)
    assert limiter.total == 2


def test_per_ip_limit_with_loopback_exempt() -> None:
    limiter = ConnectionLimiter(LimitsConfig(max_connections_per_ip=2))
    for _ in range(5):
        limiter.acquire("127.0.0.1", ANONYMOUS)
        limiter.acquire("::1", ANONYMOUS)
        limiter.acquire("127.8.9.10", ANONYMOUS)
    limiter.acquire("10.0.0.1", ANONYMOUS)
    limiter.acquire("10.0.0.1", ANONYMOUS)
    assert refused(limiter, "10.0.0.1") == "max_connections_per_ip"
    limiter.acquire("10.0.0.2", ANONYMOUS)  # another address has its own budget
    limiter.release("10.0.0.1", ANONYMOUS)
    limiter.acquire("10.0.0.1", ANONYMOUS)


def test_per_ip_limit_applies_to_loopback_when_not_exempt() -> None:
    limiter = ConnectionLimiter(LimitsConfig(max_connections_per_ip=1, loopback_exempt=False))
    limiter.acquire("127.0.0.1", ANONYMOUS)
    assert refused(limiter, "127.0.0.1") == "max_connections_per_ip"
    limiter.acquire("::1", ANONYMOUS)
    limiter.release("127.0.0.1", ANONYMOUS)
    limiter.acquire("127.0.0.1", ANONYMOUS)


@pytest.mark.parametrize("peer", ["", "unix:/tmp/sock", "localhost", "not-an-ip"])
def test_unparseable_peers_are_not_loopback(peer: str) -> None:
    limiter = ConnectionLimiter(LimitsConfig(max_connections_per_ip=1))
    limiter.acquire(peer, ANONYMOUS)
    assert refused(limiter, peer) == "max_connections_per_ip"


def test_per_user_limit() -> None:
    limiter = ConnectionLimiter(LimitsConfig(max_connections_per_user=2))
    alice = Principal("alice")
    limiter.acquire("127.0.0.1", alice)
    limiter.acquire("127.0.0.2", alice)
    assert refused(limiter, "127.0.0.3", alice) == "max_connections_per_user"
    limiter.acquire("127.0.0.1", Principal("bob"))
    for _ in range(10):  # anonymous connections are bounded only per IP and globally
        limiter.acquire("127.0.0.1", ANONYMOUS)
    limiter.release("127.0.0.1", alice)
    limiter.acquire("127.0.0.1", alice)


def test_per_org_limit_spans_users() -> None:
    limiter = ConnectionLimiter(LimitsConfig(max_connections_per_org=2))
    limiter.acquire("127.0.0.1", Principal("a", "acme"))
    limiter.acquire("127.0.0.1", Principal("b", "acme"))
    assert refused(limiter, "127.0.0.1", Principal("c", "acme")) == "max_connections_per_org"
    assert refused(limiter, "127.0.0.1", Principal(None, "acme")) == "max_connections_per_org"
    limiter.acquire("127.0.0.1", Principal("c", "globex"))
    limiter.release("127.0.0.1", Principal("a", "acme"))
    limiter.acquire("127.0.0.1", Principal("c", "acme"))


def test_a_refusal_counts_nothing() -> None:
    limiter = ConnectionLimiter(
        LimitsConfig(max_connections_per_user=1, max_connections_per_ip=5, loopback_exempt=False)
    )
    alice = Principal("alice", "acme")
    limiter.acquire("10.0.0.1", alice)
    for _ in range(3):
        assert refused(limiter, "10.0.0.1", alice) == "max_connections_per_user"
    assert limiter.total == 1
    for _ in range(4):  # the refused attempts did not use up the IP's budget
        limiter.acquire("10.0.0.1", ANONYMOUS)
    assert refused(limiter, "10.0.0.1") == "max_connections_per_ip"


def test_limits_are_checked_in_order() -> None:
    limiter = ConnectionLimiter(
        LimitsConfig(
            max_connections=1,
            max_connections_per_ip=1,
            max_connections_per_user=1,
            loopback_exempt=False,
        )
    )
    alice = Principal("alice")
    limiter.acquire("10.0.0.1", alice)
    assert refused(limiter, "10.0.0.1", alice) == "max_connections"


def test_release_forgets_empty_counters() -> None:
    limiter = ConnectionLimiter(LimitsConfig(loopback_exempt=False))
    principal = Principal("u", "o")
    limiter.acquire("10.0.0.1", principal)
    limiter.release("10.0.0.1", principal)
    assert limiter.total == 0
    assert not limiter._per_ip and not limiter._per_user and not limiter._per_org


async def test_hub_connect_enforces_and_disconnect_releases(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(max_connections_per_user=1))
    alice = Principal("alice")
    first = join(hub, "a1", principal=alice)
    with pytest.raises(LimitExceeded) as info:
        hub.connect(client_id="a2", principal=alice, peer="127.0.0.1")
    assert info.value.limit == "max_connections_per_user"
    assert len(hub.connections) == 1  # the refused connection left no connection behind
    hub.disconnect(first)
    join(hub, "a2", principal=alice)


# --- token buckets (issue 13, Build 4) ---------------------------------------------------


def test_a_token_bucket_spends_its_burst_then_refills_at_its_rate() -> None:
    from praison_push.hub.limits import TokenBucket

    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0  # one token refilled in 0.5 s
    assert bucket.take(0.4) > 0  # a clock stepping back refills nothing
    assert not bucket.full(1.0) and bucket.full(10.0)


def test_attempts_are_limited_per_ip_and_loopback_is_exempt_unless_configured() -> None:
    from praison_push.hub.limits import AttemptLimiter

    limiter = AttemptLimiter(rate=1.0, burst=2)
    assert [limiter.attempt("10.0.0.1", 0.0) for _ in range(2)] == [0.0, 0.0]
    assert limiter.attempt("10.0.0.1", 0.0) == pytest.approx(1.0)
    assert limiter.attempt("10.0.0.2", 0.0) == 0.0  # per IP
    assert all(limiter.attempt("127.0.0.1", 0.0) == 0.0 for _ in range(10))
    assert all(limiter.attempt("::1", 0.0) == 0.0 for _ in range(10))
    strict = AttemptLimiter(rate=1.0, burst=2, exempt_loopback=False)
    assert [strict.attempt("127.0.0.1", 0.0) > 0 for _ in range(3)] == [False, False, True]


def test_refilled_attempt_buckets_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    from praison_push.hub.limits import AttemptLimiter

    monkeypatch.setattr(AttemptLimiter, "SWEEP_AT", 10)
    limiter = AttemptLimiter(rate=1.0, burst=1)
    for n in range(10):
        limiter.attempt(f"10.0.0.{n}", 0.0)
    limiter.attempt("10.0.1.1", 100.0)  # the others have long refilled
    assert len(limiter) == 1
