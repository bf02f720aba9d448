"""Small domain helpers for driving a :class:`Hub` frame by frame."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from praison_push.hub import OPERATOR, Connection, Hub, Principal

#: The ``make_hub`` fixture: ``make_hub(config=None, **GatewayConfig fields)``.
MakeHub = Callable[..., Hub]


def drain(connection: Connection) -> list[dict[str, Any]]:
    """Every frame queued to ``connection``, decoded, oldest first."""
    return [json.loads(text) for text in connection.drain()]


def join(
    hub: Hub,
    client_id: str | None = None,
    *,
    principal: Principal = OPERATOR,
    peer: str = "127.0.0.1",
) -> Connection:
    """Open a connection and consume its ``connected`` greeting."""
    connection = hub.connect(client_id=client_id, principal=principal, peer=peer)
    greeting = drain(connection)
    assert [frame["type"] for frame in greeting] == ["connected"]
    return connection


async def send(
    hub: Hub, connection: Connection, frame: dict[str, Any] | str
) -> list[dict[str, Any]]:
    """Feed one frame (a dict is JSON-encoded) and return everything ``connection`` was sent."""
    text = frame if isinstance(frame, str) else json.dumps(frame)
    await hub.receive(connection, text)
    return drain(connection)


async def request(hub: Hub, connection: Connection, kind: str, **fields: Any) -> dict[str, Any]:
    """Send a ``kind`` frame and return its single reply."""
    replies = await send(hub, connection, {"type": kind, **fields})
    assert len(replies) == 1, replies
    return replies[0]


async def subscribe(
    hub: Hub, connection: Connection, channel: str, **fields: Any
) -> dict[str, Any]:
    reply = await request(hub, connection, "channel.subscribe", channel=channel, **fields)
    assert reply["type"] == "channel.subscribed", reply
    return reply


async def publish(
    hub: Hub, connection: Connection, channel: str, data: Any = None, **fields: Any
) -> dict[str, Any]:
    reply = await request(hub, connection, "channel.publish", channel=channel, data=data, **fields)
    assert reply["type"] == "channel.published", reply
    return reply


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == kind]
