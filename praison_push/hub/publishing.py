"""The checks of a ``channel.publish`` before it goes out: the publisher's rate and
the claim of its idempotency key.

Both may refuse the publication before anything is stored: with
``rate_limited`` (and ``details.retry_after``), which the package's clients wait
out and re-send with the same ``id``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..config import LimitsConfig
from ..protocol import ErrorCode, FrameError
from .connection import Connection
from .limits import TokenBucket
from .node import Node

__all__ = ["CLAIM_TTL", "CLAIM_WAIT", "check_publish_rate", "claim"]

#: How long a claimed publish key stays claimed without its receipt (the claiming
#: gateway died mid-publish: the publisher's retry publishes after that), seconds.
CLAIM_TTL = 30.0
#: How long a publish waits for another publish of its key in progress, and how often it looks.
CLAIM_WAIT = 5.0
_CLAIM_POLL = 0.02


def check_publish_rate(limits: LimitsConfig, connection: Connection, now: float) -> None:
    """Spend a publish token of ``connection``, or refuse with ``rate_limited``.

    Operators (the gateway's static tokens without a user, or anyone on a
    gateway without auth, which only listens on loopback unless
    ``--insecure``) are the deployment's own services and are not limited: the
    rate protects the gateway from one end user's client, not a backend from
    itself.
    """
    if connection.principal.operator:
        return
    bucket = connection.publish_bucket
    if bucket is None:
        bucket = TokenBucket(limits.publish_rate, limits.publish_burst, now)
        connection.publish_bucket = bucket
    retry_after = bucket.take(now)
    if retry_after:
        raise FrameError(
            ErrorCode.RATE_LIMITED,
            f"publish_rate={bucket.rate:g}/s reached (publish_burst={bucket.burst:g}); "
            f"retry after {retry_after:.3f}s",
            limit="publish_rate",
            details={"retry_after": round(retry_after, 3), "rate": bucket.rate},
        )


async def claim(node: Node, name: str, key: str, now: float) -> dict[str, Any] | None:
    """Claim a publish key: ``None`` to publish, else the earlier receipt.

    A publish of the same key in progress (on another gateway, say) is waited
    for, up to :data:`CLAIM_WAIT`.

    Raises:
        FrameError: ``rate_limited`` (retry after a second, with the same id):
            the earlier publish is still in progress after that.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLAIM_WAIT
    while True:
        earlier = await node.dedup.claim(name, key, now=now, claim_ttl=CLAIM_TTL)
        if earlier is None or earlier:
            return earlier
        if loop.time() >= deadline:
            raise FrameError(
                ErrorCode.RATE_LIMITED,
                "a publish with this id is still in progress; retry later with the same id",
                field="id",
                details={"retry_after": 1.0},
            )
        await asyncio.sleep(_CLAIM_POLL)
        now = node.clock()
