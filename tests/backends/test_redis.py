"""What only the Redis backends promise: shared state across nodes, restarts, outages.

The contract suite runs the same store and broker against the interface; this
file covers what several nodes on one Redis see, how keys are laid out and
expire, and how the broker rides out a lost connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio
from pydantic import SecretStr
from redis_support import RedisServer, free_port
from support import timeout, wait_until

from praison_push.backends import (
    BackendUnavailableError,
    Broker,
    MemoryHistoryStore,
    RedisBroker,
    RedisHistoryStore,
)
from praison_push.backends.redis import create_redis_backends, redacted_url
from praison_push.config import HistoryConfig, RedisConfig
from praison_push.protocol import Backoff

pytestmark = pytest.mark.redis


def message(n: int, channel: str = "c") -> dict[str, Any]:
    return {"type": "channel_message", "channel": channel, "data": {"n": n}, "event_id": f"e{n}"}


class Recorder:
    """A publication handler that records ``(channel, offset, data)`` per call."""

    def __init__(self, returns: int = 1) -> None:
        self.seen: list[tuple[str, Any, Any]] = []
        self.returns = returns

    def __call__(self, channel: str, frame: dict[str, Any]) -> int:
        self.seen.append((channel, frame.get("offset"), frame["data"]))
        return self.returns


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
async def node(
    client: redis.asyncio.Redis, redis_prefix: str
) -> AsyncIterator[Callable[..., tuple[RedisHistoryStore, RedisBroker]]]:
    """Build gateway nodes (store + broker) sharing one Redis and prefix."""
    opened: list[tuple[RedisHistoryStore, RedisBroker]] = []

    def make(**broker_options: Any) -> tuple[RedisHistoryStore, RedisBroker]:
        pair = (
            RedisHistoryStore(client, redis_prefix, HistoryConfig()),
            RedisBroker(client, redis_prefix, **broker_options),
        )
        opened.append(pair)
        return pair

    yield make
    for store, broker in opened:
        await broker.close()
        await store.close()


# --- several nodes -------------------------------------------------------------------------------


async def test_a_publication_reaches_every_node_with_its_position(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    (store_a, broker_a), (_, broker_b) = node(), node()
    seen_a, seen_b = Recorder(returns=3), Recorder(returns=5)
    broker_a.set_handler(seen_a)
    broker_b.set_handler(seen_b)
    await broker_a.ready()
    await broker_b.ready()
    sent = message(1)
    assert await broker_a.append_and_publish(store_a, "news", sent) == 3  # A's deliveries only
    await broker_b.sync()
    assert seen_a.seen == seen_b.seen == [("news", 1, {"n": 1})]
    assert broker_a.node_id != broker_b.node_id


async def test_another_nodes_sync_marker_is_ignored_quietly(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (_, broker_a), (_, broker_b) = node(), node()
    seen = Recorder()
    broker_b.set_handler(seen)
    await broker_b.ready()
    with caplog.at_level(logging.DEBUG, "praison_push.backends"):
        await broker_a.sync()
        await broker_b.sync()  # A's marker went by B's listener before B's own
    assert seen.seen == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_concurrent_publishers_are_seen_in_offset_order_everywhere(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    nodes = [node() for _ in range(3)]
    records = [Recorder() for _ in nodes]
    for (_, broker), record in zip(nodes, records, strict=True):
        broker.set_handler(record)
        await broker.ready()

    async def publish_many(store: RedisHistoryStore, broker: RedisBroker, base: int) -> None:
        for n in range(30):
            await broker.append_and_publish(store, "c", message(base + n))

    await asyncio.gather(*(publish_many(s, b, i * 1000) for i, (s, b) in enumerate(nodes)))
    for _, broker in nodes:
        await broker.sync()
    expected = list(range(1, 91))
    for record in records:
        assert [offset for _, offset, _ in record.seen] == expected  # no gap, no duplicate
    assert records[0].seen == records[1].seen == records[2].seen


async def test_history_is_shared_and_survives_a_new_store(
    client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    first = RedisHistoryStore(client, redis_prefix, HistoryConfig())
    offset, epoch = 0, ""
    for n in range(3):
        offset, epoch = await first.append("c", message(n))
    again = RedisHistoryStore(client, redis_prefix, HistoryConfig())  # a restarted gateway
    read = await again.read("c", since=(1, epoch))
    assert (read.recovered, read.epoch, read.offset) == (True, epoch, offset)
    assert [m["offset"] for m in read.messages] == [2, 3]
    assert (await again.append("c", message(9)))[0] == 4


async def test_the_epoch_of_a_channel_is_made_once_by_a_read(
    client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = RedisHistoryStore(client, redis_prefix, HistoryConfig())
    live = await store.read("fresh", limit=0)  # a live subscribe before any publication
    assert live.epoch
    _, epoch = await store.append("fresh", message(1))
    assert epoch == live.epoch  # so that subscriber's position (0, epoch) stays valid
    read = await store.read("fresh", since=(0, live.epoch))
    assert (read.recovered, [m["offset"] for m in read.messages]) == (True, [1])


async def test_lost_meta_starts_a_new_epoch_and_drops_the_orphaned_stream(
    client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = RedisHistoryStore(client, redis_prefix, HistoryConfig())
    for n in range(3):
        _, old = await store.append("c", message(n))
    meta, stream = store.keys("c")
    await client.delete(meta)  # as if the meta had expired (or Redis lost it)
    offset, epoch = await store.append("c", message(9))
    assert (offset, epoch != old) == (1, True)  # (epoch, offset) never names two messages
    assert await client.xlen(stream) == 1
    stale = await store.read("c", since=(3, old))
    assert (stale.recovered, stale.messages) == (False, [])


async def test_keys_share_a_cluster_slot_and_expire(
    client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = RedisHistoryStore(client, redis_prefix, HistoryConfig(ttl=60))
    await store.append("room:1", message(1))
    meta, stream = store.keys("room:1")
    assert meta == f"{redis_prefix}history:{{room:1}}:meta"
    assert stream == f"{redis_prefix}history:{{room:1}}:stream"
    assert 59_000 < await client.pttl(stream) <= 60_000
    assert await client.pttl(meta) > 86_000_000  # the counter outlives the entries
    entry_id, fields = (await client.xrange(stream))[0]
    assert entry_id == "1-0"  # the entry ID is the offset
    assert "offset" not in json.loads(fields["d"])  # the position is kept beside the body


async def test_size_is_exact_on_read_although_trimming_is_approximate(
    client: redis.asyncio.Redis, redis_prefix: str
) -> None:
    store = RedisHistoryStore(client, redis_prefix, HistoryConfig(size=5))
    for n in range(300):
        _, epoch = await store.append("c", message(n))
    assert await client.xlen(store.keys("c")[1]) < 300  # trimmed (MAXLEN ~)
    assert [m["offset"] for m in (await store.read("c")).messages] == [296, 297, 298, 299, 300]
    assert [m["offset"] for m in (await store.read("c", limit=2)).messages] == [299, 300]
    assert (await store.read("c", since=(294, epoch))).recovered is False
    assert (await store.read("c", since=(295, epoch))).recovered is True


async def test_a_store_that_owns_its_client_closes_it(redis_server: RedisServer) -> None:
    own = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    store = RedisHistoryStore(own, "owned:", HistoryConfig(), owns_client=True)
    await store.append("c", message(1))
    await store.close()
    await store.close()
    assert "RedisHistoryStore" in repr(store)


# --- the broker ----------------------------------------------------------------------------------


async def test_a_store_on_another_backend_is_appended_then_published(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    _, broker = node()
    record = Recorder()
    broker.set_handler(record)
    memory = MemoryHistoryStore(HistoryConfig())
    sent = message(1)
    assert await broker.append_and_publish(memory, "c", sent) == 1
    assert record.seen == [("c", 1, {"n": 1})]
    assert sent["epoch"] == memory.epoch


async def test_publications_of_other_nodes_arrive_decoded(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    (_, broker_a), (_, broker_b) = node(), node()
    received: list[dict[str, Any]] = []
    broker_b.set_handler(lambda channel, frame: received.append(frame) or 0)
    await broker_b.ready()
    await broker_a.publish("c", {**message(1), "offset": 7, "epoch": "ep"})
    await broker_a.publish("c", message(2))  # no position: none is invented
    await broker_b.sync()
    assert received == [{**message(1), "offset": 7, "epoch": "ep"}, message(2)]


async def test_malformed_publications_and_failing_handlers_do_not_stop_the_listener(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
    client: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, broker = node()
    calls: list[int] = []

    def handler(channel: str, frame: dict[str, Any]) -> int:
        calls.append(frame["data"]["n"])
        if frame["data"]["n"] == 1:
            raise RuntimeError("boom")
        return 1

    broker.set_handler(handler)
    await broker.ready()
    await client.publish(broker.channel, "not a publication")
    await client.publish(broker.channel, "x\n1\nc\n\n\n[1, 2]")
    await client.publish(broker.channel, "x\n1\nc\n\n\n{bad json")
    with caplog.at_level(logging.WARNING, "praison_push.backends"):
        assert await broker.publish("c", message(1)) == 0  # the handler raised: logged
        assert await broker.publish("c", message(2)) == 1
    assert calls == [1, 2]
    assert sum("malformed publication" in r.getMessage() for r in caplog.records) == 3
    assert any("local delivery failed" in r.getMessage() for r in caplog.records)


async def test_a_missing_echo_falls_back_to_local_delivery(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, broker = node(echo_timeout=0.05)
    record = Recorder()
    broker.set_handler(record)
    await broker.ready()
    broker._dispatch = lambda payload: None  # type: ignore[method-assign]  # echoes vanish
    with caplog.at_level(logging.WARNING, "praison_push.backends"):
        assert await broker.append_and_publish(store, "c", message(1)) == 1
    assert record.seen == [("c", 1, {"n": 1})]
    assert "not echoed" in caplog.text
    with pytest.raises(BackendUnavailableError, match="sync marker"):
        await broker.sync()


async def test_the_listener_reconnects_and_reports_it(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
    client: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconnected = asyncio.Event()
    store, broker = node(
        backoff=Backoff(initial=0.3, maximum=0.3, jitter=0), on_reconnect=reconnected.set
    )
    record = Recorder()
    broker.set_handler(record)
    await broker.ready()
    assert "listening" in repr(broker)
    with caplog.at_level(logging.INFO, "praison_push.backends"):
        await client.client_kill_filter(_type="pubsub")  # Redis drops our pub/sub connection
        await wait_until(lambda: not broker.listening)
        assert "idle" in repr(broker)
        # Meanwhile: publishing still works (delivered here at once), joining does not.
        assert await broker.append_and_publish(store, "c", message(1)) == 1
        assert record.seen == [("c", 1, {"n": 1})]
        with pytest.raises(BackendUnavailableError, match="down"):
            await broker.ready()
        await asyncio.wait_for(reconnected.wait(), timeout(3))
        await broker.ready()
    assert "connection lost" in caplog.text
    assert "reconnected" in caplog.text
    assert await broker.append_and_publish(store, "c", message(2)) == 1


async def test_a_failing_reconnect_callback_is_logged(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
    client: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    called = asyncio.Event()

    def on_reconnect() -> None:
        called.set()
        raise RuntimeError("boom")

    _, broker = node(backoff=Backoff(initial=0.01, maximum=0.01), on_reconnect=on_reconnect)
    await broker.ready()
    with caplog.at_level(logging.WARNING, "praison_push.backends"):
        await client.client_kill_filter(_type="pubsub")
        await asyncio.wait_for(called.wait(), timeout(3))
    assert "on_reconnect failed" in caplog.text


async def test_publications_in_flight_when_the_connection_drops_are_delivered_here(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    _, broker = node()
    record = Recorder()
    broker.set_handler(record)
    loop = asyncio.get_running_loop()
    stamped = loop.create_future()
    not_yet = loop.create_future()
    marker = loop.create_future()
    broker._pending.update(
        {
            "1": _pending("c", {"data": 1, "offset": 1}, stamped, stamped=True),
            "2": _pending("c", {"data": 2}, not_yet, stamped=False),
            "3": _pending("", None, marker, stamped=True),
        }
    )
    broker._deliver_stamped()
    assert (stamped.result(), record.seen) == (1, [("c", 1, 1)])
    assert not not_yet.done()  # its publisher still waits for Redis's answer
    with pytest.raises(BackendUnavailableError):
        marker.result()
    broker._pending.clear()


def _pending(
    channel: str, frame: dict[str, Any] | None, future: asyncio.Future[int], *, stamped: bool
) -> Any:
    from praison_push.backends.redis import _Pending

    return _Pending(channel, frame, future, stamped)


async def test_closing_stops_the_listener_and_cancels_waiters(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    _, broker = node()
    await broker.ready()
    waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    broker._pending["x"] = _pending("c", {}, waiter, stamped=True)
    await broker.close()
    assert waiter.cancelled()
    assert not broker.listening
    with pytest.raises(BackendUnavailableError, match="closed"):
        await broker.ready()
    assert await broker.publish("c", message(1)) == 0  # closed: no handler any more


# --- Redis unreachable ---------------------------------------------------------------------------


@pytest.fixture
async def nowhere() -> AsyncIterator[redis.asyncio.Redis]:
    """A client of a port nothing listens on."""
    connection = redis.asyncio.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", decode_responses=True
    )
    yield connection
    await connection.aclose()


async def test_an_unreachable_redis_is_a_backend_error(nowhere: redis.asyncio.Redis) -> None:
    store = RedisHistoryStore(nowhere, "x:", HistoryConfig())
    with pytest.raises(BackendUnavailableError):
        await store.append("c", message(1))
    with pytest.raises(BackendUnavailableError):
        await store.read("c")
    broker = RedisBroker(nowhere, "x:", connect_timeout=0.1, backoff=Backoff(0.01, 0.05))
    try:
        with pytest.raises(BackendUnavailableError, match="could not subscribe"):
            await broker.ready()
        with pytest.raises(BackendUnavailableError):
            await broker.publish("c", message(1))
        with pytest.raises(BackendUnavailableError):
            await broker.sync()
    finally:
        await broker.close()


def test_create_backends_refuses_an_unreachable_redis_clearly() -> None:
    port = free_port()
    config = RedisConfig(url=f"redis://user:hunter2@127.0.0.1:{port}/0")
    with pytest.raises(
        ConnectionError, match=r"cannot reach Redis at .*\*\*\*.*PushConfig\.redis"
    ) as info:
        create_redis_backends(config, HistoryConfig())
    assert "hunter2" not in str(info.value)


async def test_the_password_is_used_and_never_shown(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory("--requirepass", "s3cret-pw")
    wrong = RedisConfig(url=server.url, password=SecretStr("not-it"))
    with pytest.raises(ConnectionError, match=r"PushConfig\.redis") as info:
        create_redis_backends(wrong, HistoryConfig())
    assert "not-it" not in str(info.value)
    right = RedisConfig(url=server.url, password=SecretStr("s3cret-pw"))
    store, broker = create_redis_backends(right, HistoryConfig())
    try:
        await broker.ready()
        assert (await store.append("c", message(1)))[0] == 1
    finally:
        await broker.close()
        await store.close()


async def test_create_backends_shares_one_pool(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    config = RedisConfig(
        host="127.0.0.1", port=redis_server.port, prefix=redis_prefix, max_connections=3
    )
    store, broker = create_redis_backends(config, HistoryConfig(size=10))
    try:
        assert isinstance(broker, Broker)
        assert store.client is broker.client
        assert broker.channel == f"{redis_prefix}broker"
        record = Recorder()
        broker.set_handler(record)
        assert await broker.append_and_publish(store, "c", message(1)) == 1
        assert record.seen == [("c", 1, {"n": 1})]
    finally:
        await broker.close()
        await store.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://:pw@localhost:6379/1", "redis://:***@localhost:6379/1"),
        ("rediss://me:pw@[::1]/0", "rediss://me:***@[::1]/0"),
    ],
)
def test_redacted_url(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_importing_the_backends_does_not_need_redis() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import praison_push.backends as b, praison_push.server\n"
        "print(b.RedisBroker.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "RedisBroker"), done.stderr


async def test_an_echo_that_overtakes_the_script_reply_is_stamped_from_the_echo(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
) -> None:
    _, broker = node()
    record = Recorder()
    broker.set_handler(record)
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    broker._pending["7"] = _pending("c", {"data": "x"}, future, stamped=False)
    broker._dispatch(f"{broker.node_id}\n7\nc\n5\nep\n{{}}")
    assert record.seen == [("c", 5, "x")]
    assert future.result() == 1
    broker._dispatch(f"{broker.node_id}\n7\nc\n5\nep\n{{}}")  # a second echo: ignored
    assert len(record.seen) == 1


async def test_an_unexpected_listener_failure_is_logged_and_recovered(
    node: Callable[..., tuple[RedisHistoryStore, RedisBroker]],
    client: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconnected = asyncio.Event()
    _, broker = node(backoff=Backoff(initial=0.01, maximum=0.01), on_reconnect=reconnected.set)
    await broker.ready()
    dispatch = broker._dispatch

    def fail_once(payload: str) -> None:
        broker._dispatch = dispatch  # type: ignore[method-assign]
        raise RuntimeError("a bug")

    broker._dispatch = fail_once  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, "praison_push.backends"):
        await client.publish(broker.channel, "anything")
        await asyncio.wait_for(reconnected.wait(), timeout(3))
    assert "Redis pub/sub failed (RuntimeError: a bug)" in caplog.text
    await broker.ready()
