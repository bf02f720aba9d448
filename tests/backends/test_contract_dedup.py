"""DedupStore contract (backends/base.py), run against every store.

Two stores of one kit are two gateways sharing Redis, or two incarnations of a
gateway on one SQLite file (the memory window is one object shared in-process).
"""

from __future__ import annotations

import asyncio
import time

from praison_push.backends import DedupStore

from .shared_kits import SharedKit

Kit = SharedKit[DedupStore]

RECEIPT = {"type": "channel.published", "channel": "c", "delivered": 2, "event_id": "e1",
           "offset": 7, "note": "café ☕"}  # fmt: skip


def now() -> float:
    """Redis expires keys by its own clock: the tests use the real time."""
    return time.time()


async def test_the_first_claim_publishes_and_later_ones_get_its_receipt(dedup_kit: Kit) -> None:
    first, second = dedup_kit.store(), dedup_kit.store()
    t = now()
    assert await first.claim("c", "client\x00k1", now=t, claim_ttl=30) is None
    assert await second.claim("c", "client\x00k1", now=t, claim_ttl=30) == {}  # in progress
    await first.remember("c", "client\x00k1", RECEIPT, now=t, window=120)
    assert await second.claim("c", "client\x00k1", now=t + 1, claim_ttl=30) == RECEIPT
    assert await first.claim("c", "client\x00k1", now=t + 1, claim_ttl=30) == RECEIPT
    # Keys are per channel.
    assert await second.claim("other", "client\x00k1", now=t, claim_ttl=30) is None


async def test_of_racing_claims_exactly_one_publishes(dedup_kit: Kit) -> None:
    stores = [dedup_kit.store() for _ in range(3)]
    t = now()
    results = await asyncio.gather(
        *(s.claim("c", f"k{n}", now=t, claim_ttl=30) for n in range(5) for s in stores)
    )
    assert sum(1 for r in results if r is None) == 5  # one claimer per key


async def test_a_released_claim_lets_the_next_one_publish(dedup_kit: Kit) -> None:
    first, second = dedup_kit.store(), dedup_kit.store()
    t = now()
    assert await first.claim("c", "k", now=t, claim_ttl=30) is None
    await first.release("c", "k")
    assert await second.claim("c", "k", now=t, claim_ttl=30) is None


async def test_claims_and_receipts_expire(dedup_kit: Kit) -> None:
    store = dedup_kit.store()
    t = now()
    assert await store.claim("c", "lapsed", now=t, claim_ttl=0.05) is None
    assert await store.claim("c", "kept", now=t, claim_ttl=30) is None
    await store.remember("c", "kept", RECEIPT, now=t, window=0.05)
    await asyncio.sleep(0.1)  # Redis expires by its clock: let both lapse for real
    later = now()
    assert await store.claim("c", "lapsed", now=later, claim_ttl=30) is None  # a dead claim
    assert await store.claim("c", "kept", now=later, claim_ttl=30) is None  # window over
