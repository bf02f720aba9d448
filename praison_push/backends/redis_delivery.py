"""The Redis delivery store: pending deliveries every gateway on one Redis can redeliver.

A client that acknowledged nothing before its gateway died reconnects to any
gateway sharing the Redis, which reads its pending deliveries back and
redelivers them. Keys, for a prefix ``P`` (``RedisConfig.prefix`` +
``delivery:``):

``P m:{event_id}``
    Hash of one tracked publication: ``c`` (channel), ``f`` (the frame's
    JSON), ``r`` (delivered at), ``x`` (expires), ``n`` (deliveries still
    pending). Deleted with its last delivery.
``P c:{client_id}``
    Hash ``event_id → "retries due"``: the client's pending deliveries.
``P x``
    Sorted set of ``client_id\\nevent_id`` by expiry, for :meth:`expire`.

Every change is one Lua script, so a delivery is settled, taken or expired
atomically: of two gateways racing to dead-letter it, one gets it. Keys are
computed inside the scripts, so the store needs a standalone Redis (or a
primary), not Redis Cluster. Like the other Redis modules, it imports
``redis`` only for type checking.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..protocol import encode_json
from .base import (
    BackendUnavailableError,
    DeliveriesRecorded,
    DeliveriesSettled,
    DeliveryChange,
    DeliveryRescheduled,
    PendingDelivery,
)
from .redis_history import connection_errors

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisDeliveryStore"]

#: How long a publication and a client's deliveries outlive their expiry in Redis,
#: so a gateway sweeping late still finds what it dead-letters (seconds).
_GRACE = 3600.0

_RECORD = """
local p, eid = ARGV[1], ARGV[2]
local value = '0 ' .. ARGV[7]
local keep = tonumber(ARGV[8])
local added = 0
for i = 9, #ARGV do
  local ckey = p .. 'c:' .. ARGV[i]
  if redis.call('HSETNX', ckey, eid, value) == 1 then
    added = added + 1
    redis.call('ZADD', p .. 'x', ARGV[6], ARGV[i] .. '\\n' .. eid)
  end
  if redis.call('PTTL', ckey) < keep then redis.call('PEXPIRE', ckey, keep) end
end
if added > 0 then
  local mkey = p .. 'm:' .. eid
  if redis.call('EXISTS', mkey) == 0 then
    redis.call('HSET', mkey, 'c', ARGV[3], 'f', ARGV[4], 'r', ARGV[5], 'x', ARGV[6], 'n', 0)
  end
  redis.call('HINCRBY', mkey, 'n', added)
  redis.call('PEXPIRE', mkey, keep)
end
return added
"""
"""ARGV: prefix, event id, channel, frame JSON, recorded at, expires, due, keep ms, client ids…"""

_TAKE_ONE = """
local function take(p, cid, eid, out)
  local ckey = p .. 'c:' .. cid
  local value = redis.call('HGET', ckey, eid)
  redis.call('ZREM', p .. 'x', cid .. '\\n' .. eid)
  if not value then return end
  redis.call('HDEL', ckey, eid)
  local mkey = p .. 'm:' .. eid
  local m = redis.call('HMGET', mkey, 'c', 'f', 'r', 'x')
  if out and m[2] then
    local n = #out
    out[n + 1] = cid
    out[n + 2] = eid
    out[n + 3] = value
    out[n + 4] = m[1]
    out[n + 5] = m[2]
    out[n + 6] = m[3]
    out[n + 7] = m[4]
  end
  if redis.call('HINCRBY', mkey, 'n', -1) <= 0 then redis.call('DEL', mkey) end
end
"""

_SETTLE = (
    _TAKE_ONE
    + """
local out = nil
if ARGV[3] == '1' then out = {} end
for i = 4, #ARGV do take(ARGV[1], ARGV[2], ARGV[i], out) end
return out or 0
"""
)
"""ARGV: prefix, client id, "1" to return what was taken, event ids…"""

_EXPIRE = (
    _TAKE_ONE
    + """
local out = {}
local due = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'x', '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  local cut = string.find(member, '\\n', 1, true)
  take(ARGV[1], string.sub(member, 1, cut - 1), string.sub(member, cut + 1), out)
end
return out
"""
)
"""ARGV: prefix, now, limit."""

_RESCHEDULE = """
local ckey = ARGV[1] .. 'c:' .. ARGV[2]
if redis.call('HEXISTS', ckey, ARGV[3]) == 1 then
  redis.call('HSET', ckey, ARGV[3], ARGV[4])
end
return 0
"""
"""ARGV: prefix, client id, event id, "retries due"."""

_LOAD = """
local p, cid = ARGV[1], ARGV[2]
local out = {}
local all = redis.call('HGETALL', p .. 'c:' .. cid)
for i = 1, #all, 2 do
  local m = redis.call('HMGET', p .. 'm:' .. all[i], 'c', 'f', 'r', 'x')
  if m[2] then
    local n = #out
    out[n + 1] = cid
    out[n + 2] = all[i]
    out[n + 3] = all[i + 1]
    out[n + 4] = m[1]
    out[n + 5] = m[2]
    out[n + 6] = m[3]
    out[n + 7] = m[4]
  end
end
return out
"""
"""ARGV: prefix, client id."""


class RedisDeliveryStore:
    """Pending deliveries shared by every gateway on one Redis (see :class:`DeliveryStore`).

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True`` (the
            gateway's pool; the store does not close it).
        prefix: Key prefix shared by the gateways (``RedisConfig.prefix``).
    """

    name = "redis"
    durable = True
    shared = True

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}delivery:"
        self._errors = connection_errors()
        self._record = client.register_script(_RECORD)
        self._settle = client.register_script(_SETTLE)
        self._expire = client.register_script(_EXPIRE)
        self._reschedule = client.register_script(_RESCHEDULE)
        self._load = client.register_script(_LOAD)

    def __repr__(self) -> str:
        return f"<RedisDeliveryStore prefix={self.prefix!r}>"

    async def write(self, changes: Sequence[DeliveryChange]) -> None:
        if not changes:
            return
        prefix = self.prefix
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for change in changes:
                    if isinstance(change, DeliveriesRecorded):
                        keep = max(1, int((change.expires - change.recorded_at + _GRACE) * 1000))
                        args: list[Any] = [
                            prefix,
                            change.event_id,
                            change.channel,
                            encode_json(change.frame),
                            repr(change.recorded_at),
                            repr(change.expires),
                            repr(change.due),
                            keep,
                            *change.client_ids,
                        ]
                        await self._record(keys=[], args=args, client=pipe)
                    elif isinstance(change, DeliveriesSettled):
                        args = [prefix, change.client_id, "0", *change.event_ids]
                        await self._settle(keys=[], args=args, client=pipe)
                    elif isinstance(change, DeliveryRescheduled):
                        value = f"{change.retries} {change.due!r}"
                        args = [prefix, change.client_id, change.event_id, value]
                        await self._reschedule(keys=[], args=args, client=pipe)
                await pipe.execute()
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def load(self, client_id: str) -> list[PendingDelivery]:
        return _entries(await self._call(self._load, [self.prefix, client_id]))

    async def take(self, client_id: str, event_ids: Sequence[str]) -> list[PendingDelivery]:
        if not event_ids:
            return []
        args = [self.prefix, client_id, "1", *event_ids]
        return _entries(await self._call(self._settle, args))

    async def expire(self, now: float, limit: int) -> list[PendingDelivery]:
        return _entries(await self._call(self._expire, [self.prefix, repr(now), limit]))

    async def _call(self, script: Any, args: list[Any]) -> Any:
        try:
            return await script(keys=[], args=args)
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

    async def close(self) -> None:
        """Nothing to release: the client belongs to the gateway's Redis backends."""


def _entries(flat: Any) -> list[PendingDelivery]:
    """Decode the scripts' flat replies: client, event, "retries due", channel, frame, r, x."""
    if not isinstance(flat, list):
        return []
    entries = []
    for i in range(0, len(flat), 7):
        client_id, event_id, value, channel, frame, recorded_at, expires = flat[i : i + 7]
        retries, _, due = str(value).partition(" ")
        entries.append(
            PendingDelivery(
                client_id=str(client_id),
                event_id=str(event_id),
                channel=str(channel),
                frame=json.loads(frame),
                recorded_at=float(recorded_at),
                expires=float(expires),
                retries=int(retries),
                due=float(due),
            )
        )
    return entries
