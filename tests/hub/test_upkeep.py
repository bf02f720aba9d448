"""Upkeep: idle timeout (4002), keepalive pings, and the background sweep loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from support import FakeClock, timeout

from praison_push.backends import MemoryBroker, MemoryHistoryStore
from praison_push.config import GatewayConfig, LimitsConfig, PresenceConfig, PushConfig
from praison_push.hub import Hub
from praison_push.protocol import CloseCode

from .helpers import MakeHub, drain, join, request


def config(idle: float = 300.0, heartbeat: int = 15, offline: int = 45) -> GatewayConfig:
    return GatewayConfig(
        limits=LimitsConfig(idle_timeout=idle),
        push=PushConfig(
            enabled=True,
            presence=PresenceConfig(heartbeat_interval=heartbeat, offline_timeout=offline),
        ),
    )


async def test_idle_connections_are_closed_with_4002(make_hub: MakeHub, clock: FakeClock) -> None:
    hub = make_hub(config(idle=0.5))
    quiet, lively = join(hub, "quiet"), join(hub, "lively")
    clock.advance(0.4)
    await request(hub, lively, "ping")
    hub.sweep(clock.now)
    assert not quiet.closing
    clock.advance(0.2)
    hub.sweep(clock.now)
    assert (quiet.close_code, quiet.close_reason) == (CloseCode.IDLE_TIMEOUT, "idle timeout")
    assert not lively.closing


async def test_keepalive_pings_quiet_clients_once_per_interval(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    hub = make_hub(config(heartbeat=1, offline=100))
    quiet = join(hub, "quiet")
    clock.advance(0.9)
    hub.sweep(clock.now)
    assert drain(quiet) == []
    clock.advance(0.2)
    hub.sweep(clock.now)
    assert drain(quiet) == [{"type": "ping"}]
    clock.advance(0.5)
    hub.sweep(clock.now)
    assert drain(quiet) == []  # already pinged within this interval
    clock.advance(0.6)
    hub.sweep(clock.now)
    assert drain(quiet) == [{"type": "ping"}]


async def test_a_client_that_speaks_is_not_pinged(make_hub: MakeHub, clock: FakeClock) -> None:
    hub = make_hub(config(heartbeat=1, offline=100))
    lively = join(hub, "lively")
    for _ in range(5):
        clock.advance(0.6)
        await request(hub, lively, "ping")
        hub.sweep(clock.now)
        assert drain(lively) == []


async def test_idle_close_wins_over_ping(make_hub: MakeHub, clock: FakeClock) -> None:
    hub = make_hub(config(idle=1, heartbeat=1, offline=100))
    quiet = join(hub, "quiet")
    clock.advance(1)
    hub.sweep(clock.now)
    assert quiet.close_code == CloseCode.IDLE_TIMEOUT
    assert drain(quiet) == []


def test_tick_interval_follows_the_tightest_timer() -> None:
    def tick(**kwargs: Any) -> float:
        hub = Hub(
            config(**kwargs), history=MemoryHistoryStore(config().history), broker=MemoryBroker()
        )
        return hub.upkeep.tick_interval()

    assert tick() == 1.0
    assert tick(idle=0.5) == 0.125
    assert tick(idle=0.01) == 0.05  # never busier than 20 Hz
    assert tick(heartbeat=2, offline=2) == 0.5


async def test_the_background_loop_enforces_idle_timeout() -> None:
    # Real clock: the hub's own upkeep task must close the connection, nobody calls sweep().
    cfg = config(idle=0.2)
    hub = Hub(cfg, history=MemoryHistoryStore(cfg.history), broker=MemoryBroker())
    try:
        quiet = join(hub, "quiet")
        await asyncio.wait_for(quiet.wait_outgoing(), timeout(3))
        assert quiet.close_code == CloseCode.IDLE_TIMEOUT
    finally:
        await hub.close()


async def test_upkeep_survives_a_failing_sweep(
    make_hub: MakeHub, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = make_hub(config(idle=0.2))
    calls: list[float] = []
    failed = asyncio.Event()

    def sweep(now: float) -> None:
        calls.append(now)
        if len(calls) >= 2:
            failed.set()
        raise RuntimeError("sweep broke")

    monkeypatch.setattr(hub.upkeep, "sweep", sweep)
    with caplog.at_level(logging.ERROR, logger="praison_push.hub"):
        join(hub, "a")  # starts the upkeep task
        await asyncio.wait_for(failed.wait(), timeout(3))
    assert len(calls) >= 2  # it kept going after the first failure
    assert any(r.getMessage() == "hub upkeep failed" and r.exc_info for r in caplog.records)


def upkeep_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "praison-push-hub-upkeep"]


async def test_start_is_idempotent_and_close_stops_upkeep(hub: Hub) -> None:
    hub.start()
    (task,) = upkeep_tasks()
    hub.start()
    assert upkeep_tasks() == [task]
    assert hub.upkeep.running
    await hub.close()
    assert not hub.upkeep.running
    assert task.cancelled()
    assert upkeep_tasks() == []


async def test_sse_streams_are_kept_alive_not_closed_for_silence(
    make_hub: MakeHub, clock: FakeClock
) -> None:
    from praison_push.hub import ANONYMOUS
    from praison_push.hub.encoding import SSE_EXECUTION

    hub = make_hub(limits=LimitsConfig(idle_timeout=10))
    stream = hub.connect(
        client_id=None, principal=ANONYMOUS, peer="127.0.0.1", dialect=SSE_EXECUTION, greet=False
    )
    clock.advance(60)
    hub.sweep(clock())
    assert not stream.closing
    assert stream.drain() == [": keepalive\n\n"]
