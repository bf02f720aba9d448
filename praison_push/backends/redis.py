"""Redis backends: history in Streams, publications over pub/sub, so gateways scale out.

Several gateways given the same :class:`~praison_push.config.RedisConfig`
share one history per channel (:mod:`.redis_history`) and see each other's
publications (:class:`RedisBroker`, here). These two are the only modules that
import ``redis``, and they do so lazily (in functions, or for type checking
only): ``import praison_push.backends`` works without it.

``{prefix}broker`` is the one pub/sub channel every publication of every
channel goes through.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import HistoryConfig, RedisConfig
from ..protocol.backoff import Backoff
from .base import BackendUnavailableError, HistoryStore, PublicationHandler, ReconnectHandler
from .redis_history import RedisHistoryStore, connection_errors, redacted_url, stamp, stored_body

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
        self._errors = connection_errors()
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
                    stamp(pending.frame, int(parts[3]), parts[4])
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
                stamp(frame, int(offset), epoch)
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
            payload = f"{header}\n{position}\n{stored_body(frame)}"
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
            await store.append_publishing(channel, frame, self.channel, header)

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
