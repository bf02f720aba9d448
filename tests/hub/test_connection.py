"""Connections: a bounded outbox that never waits, and 1013 for slow consumers (PROTOCOL.md §3)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError
from support import SHORT, FakeClock, timeout

from praison_push.config import LimitsConfig
from praison_push.hub import ANONYMOUS, Connection, Hub, Principal
from praison_push.protocol import CloseCode
from praison_push.protocol import frames as f

from .helpers import MakeHub, drain, join, publish, request, subscribe


def make_connection(max_frames: int = 100, max_bytes: int = 10_000) -> Connection:
    return Connection(
        "s1",
        "client",
        principal=ANONYMOUS,
        peer="127.0.0.1",
        now=0.0,
        max_frames=max_frames,
        max_bytes=max_bytes,
    )


def test_send_queues_encoded_frames_in_order() -> None:
    connection = make_connection()
    assert connection.send({"type": "a", "x": "é"})
    assert connection.send_text('{"type":"b"}')
    assert connection.pending() == 2
    assert connection.drain() == ['{"type":"a","x":"é"}', '{"type":"b"}']
    assert connection.pending() == 0
    assert connection.drain() == []


def test_overflowing_the_frame_bound_closes_1013_and_drops_the_backlog() -> None:
    connection = make_connection(max_frames=3)
    assert all(connection.send_text(f"{n}") for n in range(3))
    assert not connection.send_text("3")
    assert (connection.close_code, connection.close_reason) == (
        CloseCode.SLOW_CONSUMER,
        "send queue full",
    )
    assert connection.closing
    assert connection.pending() == 0
    assert not connection.send_text("late")  # closed connections take nothing more


def test_overflowing_the_byte_bound_closes_1013() -> None:
    connection = make_connection(max_bytes=1024)
    assert connection.send_text("x" * 1000)
    assert connection.send_text("x" * 24)  # exactly at the bound
    assert not connection.send_text("x")
    assert connection.close_code == CloseCode.SLOW_CONSUMER
    assert connection.drain() == []


def test_draining_frees_room() -> None:
    connection = make_connection(max_frames=2, max_bytes=1024)
    for _ in range(10):
        assert connection.send_text("x" * 600)
        connection.drain()
    assert not connection.closing


def test_other_closes_keep_the_backlog_and_the_first_code() -> None:
    connection = make_connection()
    connection.send_text("last words")
    connection.close(CloseCode.IDLE_TIMEOUT, "idle")
    connection.close(CloseCode.NORMAL, "later")
    assert (connection.close_code, connection.close_reason) == (CloseCode.IDLE_TIMEOUT, "idle")
    assert connection.drain() == ["last words"]


async def blocked(connection: Connection) -> asyncio.Future[None]:
    """A ``wait_outgoing`` shown to be waiting: still pending after ``SHORT``."""
    waiter = asyncio.ensure_future(connection.wait_outgoing())
    done, _ = await asyncio.wait({waiter}, timeout=SHORT)
    assert not done, "wait_outgoing returned with nothing queued"
    return waiter


async def test_wait_outgoing_wakes_on_send_and_on_close() -> None:
    connection = make_connection()
    waiter = await blocked(connection)
    connection.send_text("x")
    await asyncio.wait_for(waiter, timeout(1))
    connection.drain()
    waiter = await blocked(connection)
    connection.close(CloseCode.NORMAL)
    await asyncio.wait_for(waiter, timeout(1))
    await asyncio.wait_for(connection.wait_outgoing(), timeout(1))  # closed: returns at once


def test_principal_and_repr() -> None:
    assert ANONYMOUS.anonymous
    assert not Principal("u").anonymous
    assert not Principal(None, "o").anonymous
    assert repr(make_connection()) == "<Connection s1 client=client subs=0>"


# --- slow consumers through the hub --------------------------------------------------------------


async def test_a_subscriber_that_does_not_drain_is_closed_1013(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(send_queue_max_frames=5))
    alice, slow, fast = join(hub, "alice"), join(hub, "slow"), join(hub, "fast")
    await subscribe(hub, slow, "c")
    await subscribe(hub, fast, "c")
    drain(slow)
    deliveries = []
    for n in range(8):
        deliveries.append((await publish(hub, alice, "c", n))["delivered"])
        drain(fast)
    # slow takes 5 frames, is closed on the 6th, and is skipped from then on.
    assert deliveries == [2, 2, 2, 2, 2, 1, 1, 1]
    assert slow.close_code == CloseCode.SLOW_CONSUMER
    assert slow.pending() == 0
    assert not fast.closing


async def test_the_drop_policy_keeps_a_full_subscriber_and_tells_it_of_the_gap(
    make_hub: MakeHub,
) -> None:
    # Before the policy, every slow consumer was closed 1013 (as "c" still is here).
    policies = {"ticker.*": "drop"}
    hub = make_hub(limits=LimitsConfig(send_queue_max_frames=5, slow_consumer_policies=policies))
    alice, slow, fast = join(hub, "alice"), join(hub, "slow"), join(hub, "fast")
    for name in ("ticker.eur", "c"):
        await subscribe(hub, slow, name)
    await subscribe(hub, fast, "ticker.eur")
    drain(slow)
    deliveries = []
    for n in range(8):
        deliveries.append((await publish(hub, alice, "ticker.eur", n))["delivered"])
        drain(fast)
    assert deliveries == [2, 2, 2, 2, 2, 1, 1, 1]  # 6-8 dropped for slow, which stays
    assert not slow.closing
    assert [f["data"] for f in drain(slow)] == [0, 1, 2, 3, 4]
    await publish(hub, alice, "ticker.eur", 8)
    gap, message = drain(slow)
    assert (gap["type"], gap["channel"], gap["offset"], gap["reason"]) == (
        "channel_gap", "ticker.eur", 8, "slow_consumer"
    )  # fmt: skip
    assert f.ChannelGapFrame.model_validate(gap)
    assert (message["data"], message["offset"]) == (8, 9)
    for n in range(6):  # "c" keeps the default policy: disconnect
        await publish(hub, alice, "c", n)
    assert slow.close_code == CloseCode.SLOW_CONSUMER


def test_slow_consumer_policy_patterns_are_checked() -> None:
    with pytest.raises(ValidationError, match="slow_consumer_policies"):
        LimitsConfig(slow_consumer_policies={"": "drop"})
    with pytest.raises(ValidationError, match="disconnect"):
        LimitsConfig(slow_consumer_policies={"a.*": "queue"})  # type: ignore[dict-item]


async def test_byte_bound_through_the_hub(make_hub: MakeHub) -> None:
    hub = make_hub(limits=LimitsConfig(send_queue_max_bytes=2048))
    alice, slow = join(hub, "alice"), join(hub, "slow")
    await subscribe(hub, slow, "c")
    drain(slow)
    assert (await publish(hub, alice, "c", "x" * 600))["delivered"] == 1
    assert (await publish(hub, alice, "c", "x" * 600))["delivered"] == 1
    assert (await publish(hub, alice, "c", "x" * 600))["delivered"] == 0
    assert slow.close_code == CloseCode.SLOW_CONSUMER


async def test_a_replay_larger_than_the_queue_goes_out_in_pages(make_hub: MakeHub) -> None:
    # Before paging, this subscribe overflowed the queue and closed 1013 on every attempt.
    hub = make_hub(limits=LimitsConfig(send_queue_max_frames=4))
    alice = join(hub, "alice")
    for n in range(10):
        await publish(hub, alice, "c", n)
    late = join(hub, "late")
    epoch = hub.history.epoch  # type: ignore[attr-defined]
    since = {"offset": 0, "epoch": epoch}
    subscribe = json.dumps({"type": "channel.subscribe", "channel": "c", "since": since})
    task = asyncio.ensure_future(hub.receive(late, subscribe))
    frames: list[dict[str, Any]] = []
    while not task.done() or late.pending():
        assert late.pending() <= 4  # never past the bound
        frames.extend(drain(late))
        await asyncio.sleep(0)
    await asyncio.wait_for(task, timeout(1))
    assert late.close_code is None
    assert frames[0]["type"] == "channel.subscribed" and frames[0]["recovered"] is True
    assert [m["data"] for m in frames[1:]] == list(range(10))


async def test_a_paged_replay_nobody_reads_closes_1013_after_the_stall_timeout(
    make_hub: MakeHub,
) -> None:
    hub = make_hub(limits=LimitsConfig(send_queue_max_frames=4, replay_stall_timeout=SHORT))
    alice = join(hub, "alice")
    for n in range(10):
        await publish(hub, alice, "c", n)
    late = join(hub, "late")
    since = {"offset": 0, "epoch": hub.history.epoch}  # type: ignore[attr-defined]
    subscribe = json.dumps({"type": "channel.subscribe", "channel": "c", "since": since})
    await asyncio.wait_for(hub.receive(late, subscribe), timeout(2))
    assert late.close_code == CloseCode.SLOW_CONSUMER
    assert late.close_reason == "replay stalled"
    assert late.subscriptions == {}  # no whole-gap read, no subscription after the close


async def test_a_closed_connection_still_gets_no_error_for_its_frames(hub: Hub) -> None:
    alice = join(hub, "alice")
    alice.close(CloseCode.IDLE_TIMEOUT)
    await hub.receive(alice, '{"type":"ping"}')  # nowhere to answer; must not raise
    assert drain(alice) == []
    assert (await request(hub, join(hub, "bob"), "ping"))["type"] == "pong"


# --- aborting a close that never completes (a peer that stopped reading) ------------------------


def test_abort_calls_the_transport_hook_once() -> None:
    connection = make_connection()
    calls: list[str] = []
    connection.on_abort = lambda: calls.append("abort")
    assert connection.closing_since is None
    connection.close(CloseCode.SLOW_CONSUMER, "send queue full")
    connection.abort()
    connection.abort()
    assert calls == ["abort"]
    assert connection.on_abort is None
    assert connection.close_code == CloseCode.SLOW_CONSUMER  # the first close code is kept


def test_abort_without_a_close_closes_1011_and_tolerates_no_hook() -> None:
    connection = make_connection()
    connection.abort()
    assert connection.close_code == CloseCode.INTERNAL_ERROR
    assert not connection.send({"type": "late"})


async def test_sweep_aborts_a_connection_whose_close_never_completes(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(limits=LimitsConfig(idle_timeout=30))
    stuck, fine = join(hub, "stuck"), join(hub, "fine")
    aborted: list[str] = []
    stuck.on_abort = lambda: aborted.append("stuck")
    fine.on_abort = lambda: aborted.append("fine")
    grace = min(Connection.ABORT_GRACE, 30)
    stuck.close(CloseCode.SLOW_CONSUMER, "send queue full")
    hub.sweep(clock.now)
    assert stuck.closing_since == clock.now  # the upkeep notes when it first saw the close
    assert fine.closing_since is None
    clock.advance(grace - 0.1)
    hub.sweep(clock.now)
    assert aborted == []  # a close gets its grace
    clock.advance(0.2)
    hub.sweep(clock.now)
    assert aborted == ["stuck"]
    clock.advance(grace)
    hub.sweep(clock.now)
    assert aborted == ["stuck"]  # once
    assert not fine.closing


async def test_an_idle_close_is_aborted_after_its_grace_too(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(limits=LimitsConfig(idle_timeout=1))
    quiet = join(hub, "quiet")
    aborted: list[bool] = []
    quiet.on_abort = lambda: aborted.append(True)
    clock.advance(1)
    hub.sweep(clock.now)
    assert quiet.close_code == CloseCode.IDLE_TIMEOUT
    assert quiet.closing_since == clock.now
    clock.advance(0.9)
    hub.sweep(clock.now)
    assert aborted == []
    clock.advance(0.2)  # the grace is capped by idle_timeout (1 s here)
    hub.sweep(clock.now)
    assert aborted == [True]
