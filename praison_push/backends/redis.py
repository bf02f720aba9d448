"""Redis backends: history in Streams, publications over pub/sub, so gateways scale out.

Several gateways given the same :class:`~praison_push.config.RedisConfig`
share one history per channel and see each other's publications. This is the
only module that imports ``redis``, and it does so lazily (in functions, or
for type checking only): ``import praison_push.backends`` works without it.

Keys, for a configured ``prefix`` (``"praison:push:"``) and channel ``C``:

``{prefix}history:{C}:meta``
    Hash ``epoch`` / ``offset`` (last offset given) / ``ts`` (last entry's time,
    ms). Kept ``meta_ttl`` (at least a day) after the last append, so offsets
    keep counting while the channel is in use even when its entries expire.
``{prefix}history:{C}:stream``
    Stream whose entry IDs *are* the offsets (``<offset>-0``), fields ``d``
    (the frame's JSON without ``offset``/``epoch``) and ``t`` (ms). Trimmed
    with ``MAXLEN ~ size``, expires ``ttl`` after the last append.
``{prefix}broker``
    The one pub/sub channel every publication of every channel goes through.

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

A publication's delivery on its own node also goes through Redis: the node
waits for its own publication to come back on the pub/sub connection and only
then fans it out locally (``delivered`` in the receipt still counts this
gateway's local deliveries). Every node therefore delivers a channel's
publications in offset order, whichever node published them. When the pub/sub
connection is down, or the echo does not come back within ``echo_timeout``,
the node delivers its own publication at once instead (order across nodes is
then best effort; offsets still tell clients what they missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..config import HistoryConfig, RedisConfig
from ..protocol import encode_json
from ..protocol.backoff import Backoff
from .base import (
    MIN_META_TTL,
    BackendUnavailableError,
    HistoryRead,
    HistoryStore,
    PublicationHandler,
    ReconnectHandler,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = [
    "RedisBroker",
    "RedisHistoryStore",
    "create_redis_backends",
    "redacted_url",
]

logger = logging.getLogger("praison_push.backends")

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
for _, entry in ipairs(redis.call("XRANGE", KEYS[2], string.format("%d", start), "+")) do
  if tonumber(entry[2][4]) >= horizon then
    if oldest > last then oldest = tonumber(string.match(entry[1], "^(%d+)")) end
    if limit ~= nil and count >= limit then break end
    keep(entry)
    count = count + 1
  end
end
if since + 1 < oldest then reply[3] = 0 end
return reply
"""
"""KEYS: meta, stream. ARGV: since offset ("" = none), since epoch, limit ("" = none),
now ms, ttl ms, size, new epoch, meta ttl ms.
Returns ``{epoch, last offset, recovered 0/1, id, body, id, body, …}``."""


def _connection_errors() -> tuple[type[BaseException], ...]:
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


def _stamp(frame: dict[str, Any], offset: int, epoch: str) -> dict[str, Any]:
    frame["offset"] = offset
    frame["epoch"] = epoch
    return frame


def _body(frame: dict[str, Any]) -> str:
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
        self._errors = _connection_errors()
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

    async def _run_append(
        self, channel: str, frame: dict[str, Any], pubsub_channel: str, header: str
    ) -> tuple[int, str]:
        """Run :data:`_APPEND` (publishing too when ``pubsub_channel``); stamp ``frame``."""
        args: list[str | int] = [
            _body(frame),
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
        _stamp(frame, int(offset), str(epoch))
        return int(offset), str(epoch)

    async def append(self, channel: str, frame: dict[str, Any]) -> tuple[int, str]:
        return await self._run_append(channel, frame, "", "")

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
            _stamp(json.loads(body), int(str(entry_id).partition("-")[0]), epoch)
            for entry_id, body in zip(flat[::2], flat[1::2], strict=True)
        ]
        return HistoryRead(messages, int(last), epoch, bool(recovered))

    async def close(self) -> None:
        """Close the client when this store owns it (history itself stays in Redis)."""
        if self._owns_client:
            self._owns_client = False
            await self.client.aclose()


@dataclass
class _Pending:
    """One of this node's publications (or a :meth:`RedisBroker.sync` marker, no
    ``frame``), waiting for its echo from Redis."""

    channel: str
    frame: dict[str, Any] | None
    future: asyncio.Future[int]
    stamped: bool = False

    def resolve(self, deliver: Callable[[str, dict[str, Any]], int]) -> None:
        """The echo came: deliver the publication (a marker just completes)."""
        count = 0 if self.frame is None else deliver(self.channel, self.frame)
        if not self.future.done():
            self.future.set_result(count)


class RedisBroker:
    """Publications to and from every gateway sharing a Redis (see :class:`Broker`).

    One pub/sub channel (``{prefix}broker``) carries every publication, with
    the publishing node's id, so each node's listener sees all channels in one
    order — the order the publications were made in Redis. The listener runs
    as a task on the gateway's loop, started by :meth:`ready` (or the first
    publish); it reconnects with jittered backoff when Redis goes away, logging
    at WARNING, and never brings the gateway down. After reconnecting it calls
    ``on_reconnect``: publications made while it was away were not received,
    so the gateway tells its subscribers to recover from history.

    Every node subscribes to everything: simple, and right for a handful of
    gateways; per-channel subscriptions would scale to many more.

    Args:
        client: A ``redis.asyncio.Redis`` with ``decode_responses=True``.
        prefix: Key prefix shared by the gateways (``RedisConfig.prefix``).
        node_id: This node's id in publications (random by default).
        echo_timeout: How long a publish waits for its own echo before
            delivering locally without it.
        connect_timeout: How long :meth:`ready` waits for the first subscription.
        backoff: Reconnect delays of the listener.
        on_reconnect: Called (on the loop) after the listener reconnected.
    """

    name = "redis"

    def __init__(
        self,
        client: Redis,
        prefix: str,
        node_id: str | None = None,
        *,
        echo_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        backoff: Backoff | None = None,
        on_reconnect: ReconnectHandler | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.node_id = node_id or secrets.token_hex(6)
        self.channel = f"{prefix}broker"
        self.on_reconnect = on_reconnect
        self._echo_timeout = echo_timeout
        self._connect_timeout = connect_timeout
        self._backoff = backoff or Backoff(initial=0.05, maximum=5.0)
        self._handler: PublicationHandler | None = None
        self._pending: dict[str, _Pending] = {}
        self._tokens = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._connected_once = False
        self._closed = False
        self._errors = _connection_errors()
        self._listener = _listener_client(client)

    def __repr__(self) -> str:
        state = "listening" if self.listening else "idle"
        return f"<RedisBroker node={self.node_id} channel={self.channel!r} {state}>"

    @property
    def listening(self) -> bool:
        """Whether the listener is subscribed right now."""
        return self._ready is not None and self._ready.is_set()

    def set_handler(self, handler: PublicationHandler) -> None:
        self._handler = handler

    # --- listening -----------------------------------------------------------

    async def ready(self) -> None:
        """Start the listener if needed; return once it is subscribed.

        Raises:
            BackendUnavailableError: Redis is not reachable (at most
                ``connect_timeout`` is waited for the first subscription; after
                a lost connection, at once).
        """
        if self._closed:
            raise BackendUnavailableError("the Redis broker is closed")
        ready = self._ready
        if ready is None or self._task is None or self._task.done():
            ready = self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(
                self._listen(ready), name="praison-push-redis-broker"
            )
        if ready.is_set():
            return
        if self._connected_once:
            raise BackendUnavailableError("the Redis pub/sub connection is down; retry")
        try:
            await asyncio.wait_for(ready.wait(), self._connect_timeout)
        except asyncio.TimeoutError:
            raise BackendUnavailableError(
                f"could not subscribe to Redis within {self._connect_timeout:g} s"
            ) from None

    async def _listen(self, ready: asyncio.Event) -> None:
        """Subscribe, dispatch publications, and reconnect when the connection drops."""
        attempt = 0
        while True:
            pubsub: PubSub = self._listener.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=None)
                    kind = None if message is None else message["type"]
                    if kind == "message":
                        self._dispatch(str(message["data"]))
                    elif kind == "subscribe":
                        attempt = self._subscribed(ready, attempt)
            except self._errors as exc:
                problem = f"Redis pub/sub connection lost ({exc})"
            except Exception as exc:  # e.g. SUBSCRIBE refused by an ACL: keep trying
                problem = f"Redis pub/sub failed ({type(exc).__name__}: {exc})"
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            ready.clear()
            self._deliver_stamped()
            delay = self._backoff.delay(attempt, random.random())
            logger.warning("%s; reconnecting in %.2f s", problem, delay)
            attempt += 1
            await asyncio.sleep(delay)

    def _subscribed(self, ready: asyncio.Event, attempt: int) -> int:
        ready.set()
        if self._connected_once:
            logger.warning("Redis pub/sub reconnected after %d attempt(s)", attempt)
            if self.on_reconnect is not None:
                try:
                    self.on_reconnect()
                except Exception:
                    logger.exception("on_reconnect failed")
        else:
            logger.info("listening for publications on Redis channel %r", self.channel)
        self._connected_once = True
        return 0

    def _dispatch(self, payload: str) -> None:
        """One publication from Redis: ours resolves its publisher, others fan out."""
        parts = payload.split("\n", 5)
        if len(parts) == 6 and parts[0] == self.node_id:
            pending = self._pending.pop(parts[1], None)
            if pending is not None:  # else delivered already, without its echo
                if pending.frame is not None and parts[3]:
                    # The echo may overtake the script's reply: stamp from the echo.
                    _stamp(pending.frame, int(parts[3]), parts[4])
                pending.resolve(self._deliver)
            return
        if len(parts) == 6 and not parts[2]:
            return  # another node's sync() marker
        try:
            _, _, channel, offset, epoch, body = parts
            frame = json.loads(body)
            if not isinstance(frame, dict):
                raise ValueError("not a JSON object")
            if offset:
                _stamp(frame, int(offset), epoch)
        except ValueError:
            logger.warning("ignored a malformed publication on %r", self.channel)
            return
        self._deliver(channel, frame)

    def _deliver(self, channel: str, frame: dict[str, Any]) -> int:
        if self._handler is None:
            return 0
        try:
            return self._handler(channel, frame)
        except Exception:
            logger.exception("local delivery failed on channel %r", channel)
            return 0

    def _deliver_stamped(self) -> None:
        """The connection dropped: deliver locally what was published but not echoed."""
        for token, pending in list(self._pending.items()):
            if pending.frame is None:  # a sync() barrier that can no longer be proven
                del self._pending[token]
                if not pending.future.done():
                    pending.future.set_exception(
                        BackendUnavailableError("the Redis pub/sub connection dropped")
                    )
            elif pending.stamped:
                del self._pending[token]
                pending.resolve(self._deliver)

    async def sync(self) -> None:
        """Return once every publication made in Redis before the call was dispatched.

        Publishes a marker only this node reacts to: the pub/sub connection is
        FIFO, so when the marker is back, everything published before it is too.

        Raises:
            BackendUnavailableError: Redis is unreachable, or the marker did not
                come back within ``echo_timeout``.
        """
        await self.ready()
        token = str(next(self._tokens))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[token] = _Pending("", None, future, stamped=True)
        try:
            await self.client.publish(self.channel, f"{self.node_id}\n{token}\n\n\n\n")
            await asyncio.wait_for(future, self._echo_timeout)
        except asyncio.TimeoutError:  # before OSError: it is one since Python 3.11
            raise BackendUnavailableError(
                f"Redis did not echo a sync marker within {self._echo_timeout:g} s"
            ) from None
        except self._errors as exc:
            raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc
        finally:
            self._pending.pop(token, None)

    # --- publishing ----------------------------------------------------------

    async def publish(self, channel: str, frame: dict[str, Any]) -> int:
        """``PUBLISH`` a frame as it is (its ``offset``/``epoch``, if any, travel along)."""

        async def send(header: str) -> None:
            position = f"{frame.get('offset', '')}\n{frame.get('epoch', '')}"
            payload = f"{header}\n{position}\n{_body(frame)}"
            try:
                await self.client.publish(self.channel, payload)
            except self._errors as exc:
                raise BackendUnavailableError(f"Redis is unavailable: {exc}") from exc

        return await self._send(channel, frame, send)

    async def append_and_publish(
        self, history: HistoryStore, channel: str, frame: dict[str, Any]
    ) -> int:
        """Append and publish in one Redis script when ``history`` lives on the same Redis.

        Then offset order and publication order are the same on every node.
        Any other store is appended to first, then the frame is published.
        """
        if not isinstance(history, RedisHistoryStore) or history.client is not self.client:
            await history.append(channel, frame)
            return await self.publish(channel, frame)
        store = history

        async def send(header: str) -> None:
            await store._run_append(channel, frame, self.channel, header)

        return await self._send(channel, frame, send)

    async def _send(
        self,
        channel: str,
        frame: dict[str, Any],
        send: Callable[[str], Awaitable[None]],
    ) -> int:
        """Send with a fresh token; deliver locally on the echo (or without it, if need be)."""
        with contextlib.suppress(BackendUnavailableError):
            await self.ready()  # without it the echo could be missed: fall back below
        token = str(next(self._tokens))
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        pending = self._pending[token] = _Pending(channel, frame, future)
        try:
            await send(f"{self.node_id}\n{token}\n{channel}")
        except BaseException:
            self._pending.pop(token, None)
            raise
        pending.stamped = True
        if not future.done() and not self.listening:
            self._pending.pop(token, None)
            return self._deliver(channel, frame)
        try:
            return await asyncio.wait_for(future, self._echo_timeout)
        except asyncio.TimeoutError:
            self._pending.pop(token, None)
            logger.warning(
                "publication on %r not echoed by Redis within %g s; delivered locally",
                channel,
                self._echo_timeout,
            )
            return self._deliver(channel, frame)

    async def close(self) -> None:
        """Stop the listener and release its connection (idempotent)."""
        self._closed = True
        self._handler = None
        task, self._task = self._task, None
        self._ready = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in self._pending.values():
            pending.future.cancel()
        self._pending.clear()
        await self._listener.aclose()


def _listener_client(client: Redis) -> Redis:
    """A one-connection client for the listener that never reconnects by itself.

    redis-py would silently reconnect and resubscribe a pub/sub connection; the
    broker must see each drop instead, to tell the gateway (``on_reconnect``)
    that publications were missed.
    """
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = client.connection_pool
    options = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    own = redis.asyncio.ConnectionPool(connection_class=pool.connection_class, **options)
    return redis.asyncio.Redis.from_pool(own)


def create_redis_backends(
    config: RedisConfig, history: HistoryConfig, *, check: bool = True
) -> tuple[RedisHistoryStore, RedisBroker]:
    """The history store and broker of a gateway scaled out over Redis.

    Both share one connection pool of ``config.max_connections`` connections
    (the broker's listener has one more of its own). A command whose
    connection broke is retried once, on a new connection — after a Redis
    restart every pooled connection is stale. An append retried after it did
    run publishes twice, under one ``event_id``; clients drop the second
    (PROTOCOL.md §3: at-least-once on the wire, exactly-once to the handler).

    Args:
        config: Where Redis is; ``password`` overrides one in ``url``.
        history: History size and TTL.
        check: ``PING`` Redis now (synchronously), so a gateway configured
            with an unreachable Redis fails at start with a clear error.

    Raises:
        ConnectionError: ``check`` is on and Redis does not answer.
    """
    import redis
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    url = config.connection_url()
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": 5.0,
        "socket_timeout": 10.0,
    }
    if config.password is not None:
        options["password"] = config.password.get_secret_value()
    if check:
        probe = redis.Redis.from_url(url, **{**options, "socket_timeout": 5.0})
        try:
            probe.ping()
        except redis.exceptions.RedisError as exc:
            raise ConnectionError(
                f"cannot reach Redis at {redacted_url(url)} (PushConfig.redis): {exc}"
            ) from exc
        finally:
            probe.close()
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=config.max_connections,
        timeout=5.0,
        retry=Retry(NoBackoff(), 1),
        **options,
    )
    client = redis.asyncio.Redis.from_pool(pool)
    store = RedisHistoryStore(client, config.prefix, history, owns_client=True)
    return store, RedisBroker(client, config.prefix)
