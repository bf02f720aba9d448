"""The storm: publications while every subscriber's TCP connection is cut again and again.

Each subscriber reaches its gateway through a :class:`~support.CuttingProxy`
of its own; a cutter per subscriber aborts its connection at 20 random points
of the stream (each time once the client is connected again, so every cut
drops a live connection). The publisher is never cut. At the end every
handler must have seen every publication exactly once, in the channel's
order, and the gateway must hold no pending delivery (everything was
acknowledged).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from support import CuttingProxy, timeout, wait_until

from praison_push.client import AsyncPushClient

from .helpers import Subscriber

CHANNEL = "storm"


@dataclass
class StormResult:
    order: list[int]
    subscribers: list[Subscriber]
    proxies: list[CuttingProxy]
    cut_points: list[list[int]] = field(default_factory=list)


async def storm(
    publisher: AsyncPushClient,
    subscribers: list[Subscriber],
    proxies: list[CuttingProxy],
    *,
    messages: int = 5_000,
    cuts: int = 20,
    seed: int | None = None,
    midway: Callable[[], Awaitable[None]] | None = None,
    window: int = 16,
) -> StormResult:
    """Publish ``messages`` with ``cuts`` random cuts per subscriber; return what to check.

    ``midway`` runs (awaited, publishing paused) once half the messages are out.
    """
    rng = random.Random(seed)
    points = [sorted(rng.sample(range(50, messages - 50), cuts)) for _ in subscribers]
    published = 0
    offsets: dict[int, int] = {}
    done_cuts = [0] * len(subscribers)

    async def cutter(index: int) -> None:
        sub, proxy = subscribers[index], proxies[index]
        for point in points[index]:
            await wait_until(lambda p=point: published >= p, 120, what=f"publication {point}")
            # Cut a live connection: wait for the client to be back after the last cut.
            await wait_until(lambda: sub.client.is_connected and proxy.live > 0, 30)
            proxy.cut()
            done_cuts[index] += 1

    def lagging(index: int, level: int) -> bool:
        return done_cuts[index] < cuts and points[index][done_cuts[index]] < level - 400

    async def publish(seq: int) -> None:
        receipt = await publisher.publish(CHANNEL, {"seq": seq}, id=f"storm-{seq}")
        offsets[seq] = receipt.offset

    cutters = [asyncio.ensure_future(cutter(i)) for i in range(len(subscribers))]
    try:
        in_flight: set[asyncio.Task[None]] = set()
        for seq in range(messages):
            if midway is not None and seq == messages // 2:
                await asyncio.gather(*in_flight)
                await midway()
            # Keep the cutters within reach, so the cuts fall inside the stream.
            if any(lagging(i, published) for i in range(len(subscribers))):
                await wait_until(
                    lambda level=published: (
                        not any(lagging(i, level) for i in range(len(subscribers)))
                    ),
                    60,
                    what="cutters catching up",
                )
            task = asyncio.ensure_future(publish(seq))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            published = seq + 1
            if len(in_flight) >= window:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(*in_flight)
        await asyncio.wait_for(asyncio.gather(*cutters), timeout(60))
    finally:
        for task in cutters:
            task.cancel()
    order = sorted(range(messages), key=offsets.__getitem__)
    for sub in subscribers:
        await wait_until(
            lambda s=sub: len(s.handled) >= messages, 90, what=f"{sub.client.client_id} caught up"
        )
    return StormResult(order, subscribers, proxies, points)
