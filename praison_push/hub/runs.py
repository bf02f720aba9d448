"""Starting an agent run for a connection: the one path every transport takes.

The WebSocket ``execute`` command (every dialect) and the SSE run endpoint both
call :func:`start_run`, so the limits, the validation and the order of events
(``execute.accepted`` before the run's first event) cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from ..protocol import ErrorCode, FrameError
from .connection import Connection
from .node import Node, ends_run
from .run_manager import RunRecord
from .scopes import display_name

__all__ = ["start_run", "watch_run"]


def start_run(
    node: Node,
    connection: Connection,
    agent_id: str,
    text: str,
    *,
    conversation_id: str | None = None,
    ref: Any = None,
) -> RunRecord:
    """Start ``agent_id`` on ``text`` for ``connection``, which watches the run.

    At most ``max_runs_per_connection`` runs of the connection's client run at
    once (PROTOCOL.md §7). The connection is subscribed to the run's channel
    and sent ``execute.accepted`` (a no-op for an SSE stream) before the run
    starts, so the acceptance always precedes the run's first event.

    Args:
        conversation_id: The conversation the run continues (the wire's
            ``session_id``); defaults to the connection's own (``/ws/{session_id}``).
        ref: The request's ``ref``, echoed on ``execute.accepted``.

    Raises:
        FrameError: ``limit_exceeded``, ``unknown_agent``, or ``invalid_field``
            for an empty or oversized input; nothing was started.
    """
    limit = node.config.limits.max_runs_per_connection
    if node.runs.running_for(connection.client_id) >= limit:
        raise FrameError(
            ErrorCode.LIMIT_EXCEEDED,
            f"max_runs_per_connection={limit} runs are already running",
            limit="max_runs_per_connection",
            details={"max": limit},
        )
    run = node.runs.prepare(
        agent_id,
        text,
        principal=connection.principal,
        client_id=connection.client_id,
        conversation_id=conversation_id or connection.conversation_id,
    )
    node.watch(connection, run.channel)
    accepted: dict[str, Any] = {
        "type": "execute.accepted",
        "execution_id": run.execution_id,
        "channel": display_name(run.channel),
    }
    if ref is not None:
        accepted["ref"] = ref
    connection.send(accepted)
    node.runs.start(run)
    return run


async def watch_run(node: Node, connection: Connection, run: RunRecord) -> None:
    """Subscribe ``connection`` to ``run``'s channel, the whole run replayed first.

    History, then the live stream, without gap or duplicate (as a subscribe with
    no position does for a run channel, PROTOCOL.md §4), whatever the channel
    settings: a run's watcher is not a pub/sub subscriber, so neither
    ``auto_create_channels`` nor ``push.enabled`` applies — as for the
    connection that started the run. A finished run is released at once.
    """
    name = run.channel
    read, held = await node.read_joining(name, connection, None, None)
    if not node.is_open(connection):
        return  # the stream went away while history was read
    channel = node.channels.create(name, node.clock())
    node.channels.subscribe(channel, connection, None)
    for message in read.messages:
        connection.send(message)
    if held:
        node.flush_held(channel, connection, read, held)
    if read.messages and ends_run(read.messages[-1]):
        node.release_run(channel)
