"""Small domain helpers for driving a :class:`Hub` frame by frame."""

from __future__ import annotations

import json
from typing import Any

from praison_push.hub import ANONYMOUS, Hub, Principal, Session


class FakeClock:
    """A settable wall clock: ``clock()`` reads it, ``advance()`` moves it."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def drain(session: Session) -> list[dict[str, Any]]:
    """Every frame queued to ``session``, decoded, oldest first."""
    return [json.loads(text) for text in session.drain()]


def join(
    hub: Hub,
    client_id: str | None = None,
    *,
    principal: Principal = ANONYMOUS,
    peer: str = "127.0.0.1",
) -> Session:
    """Connect a session and consume its ``connected`` greeting."""
    session = hub.connect(client_id=client_id, principal=principal, peer=peer)
    greeting = drain(session)
    assert [frame["type"] for frame in greeting] == ["connected"]
    return session


async def send(hub: Hub, session: Session, frame: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Feed one frame (a dict is JSON-encoded) and return everything ``session`` was sent."""
    text = frame if isinstance(frame, str) else json.dumps(frame)
    await hub.receive(session, text)
    return drain(session)


async def request(hub: Hub, session: Session, kind: str, **fields: Any) -> dict[str, Any]:
    """Send a ``kind`` frame and return its single reply."""
    replies = await send(hub, session, {"type": kind, **fields})
    assert len(replies) == 1, replies
    return replies[0]


async def subscribe(hub: Hub, session: Session, channel: str, **fields: Any) -> dict[str, Any]:
    reply = await request(hub, session, "channel.subscribe", channel=channel, **fields)
    assert reply["type"] == "channel.subscribed", reply
    return reply


async def publish(
    hub: Hub, session: Session, channel: str, data: Any = None, **fields: Any
) -> dict[str, Any]:
    reply = await request(hub, session, "channel.publish", channel=channel, data=data, **fields)
    assert reply["type"] == "channel.published", reply
    return reply


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == kind]
