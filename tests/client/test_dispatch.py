"""The dispatcher in isolation: ordering, flushing, registry, stopping."""

from __future__ import annotations

import asyncio
import logging

import pytest
from support import WAIT

from praison_push.client import ChannelMessage
from praison_push.client.dispatch import Dispatcher


class Acks:
    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.flushes: list[list[str]] = []

    def on_delivered(self, event_id: str) -> None:
        self.delivered.append(event_id)

    async def on_flush(self) -> None:
        self.flushes.append(list(self.delivered))


async def test_flushes_every_n_items_under_sustained_load() -> None:
    acks = Acks()
    dispatcher = Dispatcher(on_delivered=acks.on_delivered, on_flush=acks.on_flush, flush_every=2)
    dispatcher.start()
    for n in range(5):
        dispatcher.post_message(ChannelMessage(channel="a", event_id=f"e{n}"))
    dispatcher.stop()
    await dispatcher.wait_stopped(WAIT)
    assert acks.delivered == [f"e{n}" for n in range(5)]
    assert acks.flushes[:2] == [["e0", "e1"], ["e0", "e1", "e2", "e3"]]
    assert acks.flushes[-1] == acks.delivered
    assert not dispatcher.running


async def test_posts_after_stop_and_before_start_are_dropped() -> None:
    acks = Acks()
    dispatcher = Dispatcher(on_delivered=acks.on_delivered, on_flush=acks.on_flush)
    dispatcher.post_ack("early")
    dispatcher.start()
    dispatcher.start()  # no-op while running
    dispatcher.stop()
    dispatcher.post_ack("late")
    dispatcher.stop()
    await dispatcher.wait_stopped(WAIT)
    assert acks.delivered == []


async def test_registry_add_and_remove() -> None:
    acks = Acks()
    dispatcher = Dispatcher(on_delivered=acks.on_delivered, on_flush=acks.on_flush)
    assert not dispatcher.wants("x")
    dispatcher.add_handler("x", print)
    assert dispatcher.wants("x")
    assert dispatcher.remove_handler("x", print)
    assert not dispatcher.remove_handler("x", print)
    dispatcher.add_callback("a", print)
    assert dispatcher.remove_callback("a", print)
    assert not dispatcher.remove_callback("a", print)
    dispatcher.add_callback("a", print)
    dispatcher.clear_callbacks("a")
    assert not dispatcher.remove_callback("a", print)


async def test_stuck_handlers_are_cancelled_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    acks = Acks()
    dispatcher = Dispatcher(on_delivered=acks.on_delivered, on_flush=acks.on_flush)
    started = asyncio.Event()

    async def stuck(_payload: object) -> None:
        started.set()
        await asyncio.Event().wait()

    dispatcher.add_handler("x", stuck)
    dispatcher.start()
    dispatcher.post_event("x", None)
    await asyncio.wait_for(started.wait(), WAIT)
    dispatcher.stop()
    with caplog.at_level(logging.WARNING, "praison_push.client"):
        await dispatcher.wait_stopped(0.01)
    assert "cancelling" in caplog.text
    assert not dispatcher.running


async def test_handler_names_in_logs_fall_back_to_repr(caplog: pytest.LogCaptureFixture) -> None:
    class Handler:  # instances have no __qualname__
        def __call__(self, _payload: object) -> None:
            raise ValueError("bad")

        def __repr__(self) -> str:
            return "<my handler>"

    acks = Acks()
    dispatcher = Dispatcher(on_delivered=acks.on_delivered, on_flush=acks.on_flush)
    dispatcher.add_handler("x", Handler())
    dispatcher.start()
    with caplog.at_level(logging.ERROR, "praison_push.client"):
        dispatcher.post_event("x", None)
        dispatcher.stop()
        await dispatcher.wait_stopped(WAIT)
    assert "<my handler>" in caplog.text
