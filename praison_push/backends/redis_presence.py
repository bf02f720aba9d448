"""The Redis presence store: every gateway's presence entries on the shared Redis.

Keys, for a prefix ``P`` (``RedisConfig.prefix`` + ``presence:``):

``P nodes``
    Sorted set of node ids by the time their entries hold until (``expires``).
``P n:{node_id}``
    Hash ``client_id → entry JSON`` of one node's clients. It outlives the
    node's last write by :data:`_GRACE` so that a gateway can still reap it
    (announce its clients' leaves); Redis drops it after that in any case.

A write is one ``MULTI``; :meth:`RedisPresenceStore.reap` is one Lua script,
so of gateways racing to reap a dead node exactly one gets it. Keys are
computed inside the script: a standalone Redis (or a primary), not Redis
Cluster. Like the other Redis modules, it imports ``redis`` only for type checking.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..protocol import encode_json
from .base import BackendUnavailableError
from .redis_history import connection_errors

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisPresenceStore"]

#: How long a node's hash outlives its last write (seconds, Redis' own clock), for a
#: late reaper; the node's ``expires`` (the gateways' clock) decides when it is dead.
_GRACE = 3600

_REAP = """
local dead = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
local out = {}
for _, node in ipairs(dead) do
  redis.call("ZREM", KEYS[1], node)
  local key = ARGV[2] .. node
  table.insert(out, node)
  table.insert(out, redis.call("HVALS", key))
  redis.call("DEL", key)
end
return out
"""


class RedisPresenceStore:
    """Presence entries of every gateway on one Redis (see :class:`PresenceStore`).

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True``
            (the gateway's pool; not closed by :meth:`close`).
        prefix: Key prefix shared by the gateways (``RedisConfig.prefix``).
    """

    name = "redis"
    shared = True

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self._prefix = f"{prefix}presence:"
        self._nodes = f"{self._prefix}nodes"
        self._errors = connection_errors()
        self._reap = client.register_script(_REAP)

    def __repr__(self) -> str:
        return f"<RedisPresenceStore prefix={self._prefix!r}>"

    def _key(self, node_id: str) -> str:
        return f"{self._prefix}n:{node_id}"

    async def write(
        self,
        node_id: str,
        entries: Mapping[str, dict[str, Any]],
        removed: Sequence[str],
        *,
        expires: float,
        replace: bool = False,
    ) -> None:
        key = self._key(node_id)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                if replace:
                    pipe.delete(key)
                if entries:
                    pipe.hset(key, mapping={k: encode_json(v) for k, v in entries.items()})
                if removed and not replace:
                    pipe.hdel(key, *removed)
                pipe.expire(key, _GRACE)
                pipe.zadd(self._nodes, {node_id: expires})
                await pipe.execute()
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def read(self, now: float) -> dict[str, list[dict[str, Any]]]:
        try:
            found = await self.client.zrangebyscore(self._nodes, f"({now!r}", "+inf")
            nodes = [str(node_id) for node_id in found]
            if not nodes:
                return {}
            async with self.client.pipeline(transaction=False) as pipe:
                for node_id in nodes:
                    pipe.hvals(self._key(node_id))
                values: list[list[str]] = await pipe.execute()
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc
        return {node_id: _entries(found) for node_id, found in zip(nodes, values, strict=True)}

    async def reap(self, now: float) -> dict[str, list[dict[str, Any]]]:
        try:
            flat = await self._reap(keys=[self._nodes], args=[repr(now), f"{self._prefix}n:"])
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc
        return {flat[i]: _entries(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def remove_node(self, node_id: str) -> None:
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zrem(self._nodes, node_id)
                pipe.delete(self._key(node_id))
                await pipe.execute()
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def close(self) -> None:
        return None


def _entries(values: list[str]) -> list[dict[str, Any]]:
    found = []
    for value in values:
        entry = json.loads(value)
        if isinstance(entry, dict):
            found.append(entry)
    return found
