"""Redis history: one Stream per channel, offsets assigned in Lua (see :mod:`.redis`).

Keys, for a configured ``prefix`` (``"praison:push:"``) and channel ``C``:

``{prefix}history:{C}:meta``
    Hash ``epoch`` / ``offset`` (last offset given) / ``ts`` (last entry's time,
    ms). Kept ``meta_ttl`` (at least a day) after the last append, so offsets
    keep counting while the channel is in use even when its entries expire.
``{prefix}history:{C}:stream``
    Stream whose entry IDs *are* the offsets (``<offset>-0``), fields ``d``
    (the frame's JSON without ``offset``/``epoch``) and ``t`` (ms). Trimmed
    with ``MAXLEN ~ size``, expires ``ttl`` after the last append.

The ``{C}`` hash tag keeps a channel's two keys in one Redis Cluster slot, so
the scripts below stay valid there. Every change to a channel happens inside
one Lua script, so offsets are assigned, stored and published atomically:

* :data:`_APPEND`: start an epoch if the channel has none (dropping any
  orphaned stream), ``HINCRBY`` the offset, ``XADD``, refresh the TTLs and,
  when publishing, ``PUBLISH`` the frame with its offset — all in one step. So
  the order of publications on the pub/sub channel *is* offset order.
* :data:`_READ`: one consistent snapshot of meta and stream, answering the
  :class:`~praison_push.backends.HistoryStore` contract exactly as the memory
  store does (expiry is computed from the caller's clock, so a fake clock
  drives it in tests, and the size bound is applied on read because ``~``
  trimming keeps a little more).

Like :mod:`.redis`, it imports ``redis`` only lazily or for type checking.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..config import HistoryConfig
from ..protocol import encode_json
from .base import MIN_META_TTL, BackendUnavailableError, HistoryRead

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisHistoryStore", "connection_errors", "redacted_url", "stamp", "stored_body"]

_APPEND = """
local epoch = redis.call("HGET", KEYS[1], "epoch")
if not epoch then
  epoch = ARGV[6]
  redis.call("DEL", KEYS[2])
  redis.call("HSET", KEYS[1], "epoch", epoch, "offset", 0, "ts", 0)
end
local offset = redis.call("HINCRBY", KEYS[1], "offset", 1)
local ts = tonumber(ARGV[2])
local last_ts = tonumber(redis.call("HGET", KEYS[1], "ts")) or 0
if last_ts > ts then ts = last_ts end
redis.call("HSET", KEYS[1], "ts", string.format("%d", ts))
redis.call("PEXPIRE", KEYS[1], ARGV[5])
if tonumber(ARGV[3]) > 0 then
  redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[3], string.format("%d-0", offset),
             "d", ARGV[1], "t", string.format("%d", ts))
  redis.call("PEXPIRE", KEYS[2], ARGV[4])
end
if ARGV[7] ~= "" then
  redis.call("PUBLISH", ARGV[7],
             ARGV[8] .. "\\n" .. string.format("%d", offset) .. "\\n" .. epoch .. "\\n" .. ARGV[1])
end
return {offset, epoch}
"""
"""KEYS: meta, stream. ARGV: body, now ms, size, ttl ms, meta ttl ms, new epoch,
pub/sub channel ("" = store only), publication header. Returns ``{offset, epoch}``."""

_READ = """
local epoch = redis.call("HGET", KEYS[1], "epoch")
if not epoch then
  epoch = ARGV[7]
  redis.call("DEL", KEYS[2])
  redis.call("HSET", KEYS[1], "epoch", epoch, "offset", 0, "ts", 0)
  redis.call("PEXPIRE", KEYS[1], ARGV[8])
end
local last = tonumber(redis.call("HGET", KEYS[1], "offset"))
local horizon = tonumber(ARGV[4]) - tonumber(ARGV[5])
local first = last - tonumber(ARGV[6]) + 1
if first < 1 then first = 1 end
local limit = tonumber(ARGV[3])
local reply = {epoch, last, 1}
local function keep(entry)
  reply[#reply + 1] = entry[1]
  reply[#reply + 1] = entry[2][2]
end
if ARGV[1] == "" then
  if limit == nil then
    for _, entry in ipairs(redis.call("XRANGE", KEYS[2], string.format("%d", first), "+")) do
      if tonumber(entry[2][4]) >= horizon then keep(entry) end
    end
  elseif limit > 0 then
    local range = redis.call("XREVRANGE", KEYS[2], "+", string.format("%d", first),
                             "COUNT", limit)
    local newest = {}
    for _, entry in ipairs(range) do
      if tonumber(entry[2][4]) < horizon then break end
      newest[#newest + 1] = entry
    end
    for i = #newest, 1, -1 do keep(newest[i]) end
  end
  return reply
end
local since = tonumber(ARGV[1])
if ARGV[2] ~= epoch or since > last then
  reply[3] = 0
  return reply
end
local start = since + 1
if start < first then start = first end
local oldest = last + 1
local count = 0
local cursor = start
while true do
  -- With a limit (a replay in pages), read only about what the page needs: a
  -- whole-stream XRANGE per page would make a long replay quadratic.
  local chunk
  local want = 0
  if limit == nil then
    chunk = redis.call("XRANGE", KEYS[2], string.format("%d", cursor), "+")
  else
    want = limit - count + 1
    chunk = redis.call("XRANGE", KEYS[2], string.format("%d", cursor), "+", "COUNT", want)
  end
  local full = false
  for _, entry in ipairs(chunk) do
    if tonumber(entry[2][4]) >= horizon then
      if oldest > last then oldest = tonumber(string.match(entry[1], "^(%d+)")) end
      if limit ~= nil and count >= limit then full = true break end
      keep(entry)
      count = count + 1
    end
  end
  if full or limit == nil or #chunk < want then break end
  cursor = tonumber(string.match(chunk[#chunk][1], "^(%d+)")) + 1
end
if since + 1 < oldest then reply[3] = 0 end
return reply
"""
"""KEYS: meta, stream. ARGV: since offset ("" = none), since epoch, limit ("" = none),
now ms, ttl ms, size, new epoch, meta ttl ms.
Returns ``{epoch, last offset, recovered 0/1, id, body, id, body, …}``."""


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "Redis cannot be reached now" (not a bad command)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError)


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def stamp(frame: dict[str, Any], offset: int, epoch: str) -> dict[str, Any]:
    frame["offset"] = offset
    frame["epoch"] = epoch
    return frame


def stored_body(frame: dict[str, Any]) -> str:
    """The frame's JSON without its position (stored and published beside it)."""
    return encode_json({k: v for k, v in frame.items() if k not in ("offset", "epoch")})


class RedisHistoryStore:
    """Per-channel history shared by every gateway on one Redis (see :class:`HistoryStore`).

    Epochs are per channel: a random string made when a channel's meta is
    created (first append or read), and made anew only when that meta has
    expired or Redis lost it — then the old ``(epoch, offset)`` positions
    answer ``recovered: false`` instead of naming different messages.

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True``.
        prefix: Key prefix shared by the gateways (``RedisConfig.prefix``).
        config: History size and TTL; every gateway should use the same.
        clock: Wall-clock time source (seconds), injectable for tests; entry
            expiry is computed from it, not from Redis's clock.
        meta_ttl: How long a channel's epoch and offset survive its last
            append (default: the history TTL, but at least a day).
        owns_client: Close ``client`` in :meth:`close`.
    """

    def __init__(
        self,
        client: Redis,
        prefix: str,
        config: HistoryConfig,
        *,
        clock: Callable[[], float] = time.time,
        meta_ttl: float | None = None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self._size = config.size
        self._ttl_ms = max(1, int(config.ttl * 1000))
        meta = max(config.ttl, MIN_META_TTL) if meta_ttl is None else meta_ttl
        self._meta_ttl_ms = max(self._ttl_ms, int(meta * 1000))
        self._clock = clock
        self._owns_client = owns_client
        self._errors = connection_errors()
        self._append = client.register_script(_APPEND)
        self._read = client.register_script(_READ)

    def __repr__(self) -> str:
        return f"<RedisHistoryStore prefix={self.prefix!r} size={self._size}>"

    def keys(self, channel: str) -> list[str]:
        """The meta and stream keys of ``channel`` (one cluster slot by hash tag)."""
        base = f"{self.prefix}history:{{{channel}}}"
        return [f"{base}:meta", f"{base}:stream"]

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def append_publishing(
        self, channel: str, frame: dict[str, Any], pubsub_channel: str, header: str
    ) -> tuple[int, str]:
        """Run :data:`_APPEND` (publishing too when ``pubsub_channel``); stamp ``frame``.

        The broker calls it to append and publish in one step; ``header`` heads the
        publication as :class:`~.redis.RedisBroker` frames it.
        """
        args: list[str | int] = [
            stored_body(frame),
            self._now_ms(),
            self._size,
            self._ttl_ms,
            self._meta_ttl_ms,
            secrets.token_hex(8),
            pubsub_channel,
            header,
        ]
        try:
            offset, epoch = await self._append(keys=self.keys(channel), args=args)
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc
        stamp(frame, int(offset), str(epoch))
        return int(offset), str(epoch)

    async def append(self, channel: str, frame: dict[str, Any]) -> tuple[int, str]:
        return await self.append_publishing(channel, frame, "", "")

    async def read(
        self,
        channel: str,
        *,
        since: tuple[int, str] | None = None,
        limit: int | None = None,
    ) -> HistoryRead:
        args: list[str | int] = [
            "" if since is None else since[0],
            "" if since is None else since[1],
            "" if limit is None else max(0, limit),
            self._now_ms(),
            self._ttl_ms,
            self._size,
            secrets.token_hex(8),
            self._meta_ttl_ms,
        ]
        try:
            reply = await self._read(keys=self.keys(channel), args=args)
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc
        epoch, last, recovered, *flat = reply
        epoch = str(epoch)
        messages = [
            stamp(json.loads(body), int(str(entry_id).partition("-")[0]), epoch)
            for entry_id, body in zip(flat[::2], flat[1::2], strict=True)
        ]
        return HistoryRead(messages, int(last), epoch, bool(recovered))

    async def close(self) -> None:
        """Close the client when this store owns it (history itself stays in Redis)."""
        if self._owns_client:
            self._owns_client = False
            await self.client.aclose()
