"""The publish de-duplication window on Redis, shared by every gateway on it.

One key per publish key, ``{RedisConfig.prefix}dedup:{channel}\\0{key}``:
claimed with ``SET NX`` (empty value, expiring after ``claim_ttl``), then
overwritten with the receipt's JSON, expiring after the window. Of gateways
racing for one key, exactly one's ``SET NX`` succeeds. Like the other Redis
modules, it imports ``redis`` only for type checking.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..protocol import encode_json
from .base import BackendUnavailableError
from .redis_history import connection_errors

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisDedupStore"]


class RedisDedupStore:
    """The de-duplication window of every gateway on one Redis (see :class:`DedupStore`).

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True``
            (the gateway's pool; not closed by :meth:`close`).
        prefix: Key prefix shared by the gateways (``RedisConfig.prefix``).
    """

    name = "redis"
    shared = True

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self._prefix = f"{prefix}dedup:"
        self._errors = connection_errors()

    def __repr__(self) -> str:
        return f"<RedisDedupStore prefix={self._prefix!r}>"

    def _key(self, channel: str, key: str) -> str:
        return f"{self._prefix}{channel}\x00{key}"

    async def claim(
        self, channel: str, key: str, *, now: float, claim_ttl: float
    ) -> dict[str, Any] | None:
        name = self._key(channel, key)
        try:
            for _ in range(3):  # the earlier entry may expire between SET NX and GET
                if await self.client.set(name, "", nx=True, px=_ms(claim_ttl)):
                    return None
                found = await self.client.get(name)
                if found is not None:
                    return _receipt(str(found))
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc
        return {}

    async def remember(
        self, channel: str, key: str, receipt: dict[str, Any], *, now: float, window: float
    ) -> None:
        try:
            await self.client.set(self._key(channel, key), encode_json(receipt), px=_ms(window))
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def release(self, channel: str, key: str) -> None:
        try:
            await self.client.delete(self._key(channel, key))
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def close(self) -> None:
        return None


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _receipt(text: str) -> dict[str, Any]:
    """A stored receipt (``{}``: the publish is still in progress)."""
    if not text:
        return {}
    found = json.loads(text)
    return found if isinstance(found, dict) else {}
