"""Upkeep: the node's timers, run by one background task.

Each tick sweeps every connection: idle ones are closed (4002), quiet ones
pinged (PROTOCOL.md §2), silent clients shown offline, SSE streams kept alive,
presence batches whose interval ended sent, and connections whose close never
completed are aborted
(:attr:`Connection.ABORT_GRACE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..protocol import CloseCode
from .connection import Connection
from .encoding import SSE_DIALECTS
from .handshake import refusal
from .node import Node

__all__ = ["Upkeep"]

logger = logging.getLogger("praison_push.hub")

_PING = {"type": "ping"}


class Upkeep:
    """The node's periodic sweep, on a task started with the first connection.

    Args:
        node: The node whose connections are kept.
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the background task is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the background task on the running loop (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._maintain(), name="praison-push-hub-upkeep"
            )

    async def stop(self) -> None:
        """Stop the background task and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def tick_interval(self) -> float:
        """Seconds between sweeps: a quarter of the tightest timer, between 0.05 and 1."""
        config = self._node.config
        limits, presence = config.limits, config.push.presence
        return max(0.05, min(1.0, limits.idle_timeout / 4, presence.heartbeat_interval / 4))

    async def _maintain(self) -> None:
        interval = self.tick_interval()
        while True:
            await asyncio.sleep(interval)
            try:
                self.sweep(self._node.clock())
            except Exception:
                logger.exception("hub upkeep failed")

    def sweep(self, now: float) -> None:
        """Close idle connections, ping quiet ones, mark silent clients offline, and
        abort connections whose close has not completed (``Connection.ABORT_GRACE``)."""
        node = self._node
        idle_timeout = node.config.limits.idle_timeout
        presence = node.config.push.presence
        heartbeat = presence.heartbeat_interval
        grace = max(2 * self.tick_interval(), min(Connection.ABORT_GRACE, idle_timeout))
        # Presence batches have their own timer; this catches any it left behind.
        node.presence.flush_due(now)
        if node.presence_sync is not None:
            node.presence_sync.tick(now)
        for connection in list(node.connections.values()):
            if connection.closing:
                self._settle_close(connection, now, grace)
                continue
            expires_at = connection.principal.expires_at
            if expires_at is not None and now >= expires_at:
                # The token ran out and no auth.refresh came (issue 13, build 2).
                text, code = refusal(connection.dialect, "token expired", "token_expired")
                if connection.dialect not in SSE_DIALECTS:  # an SSE stream just ends
                    connection.send_text(text)
                connection.close(code, "token expired")
                connection.closing_since = now
                continue
            silent = now - connection.last_seen
            if connection.dialect in SSE_DIALECTS:
                # An SSE stream never speaks; its end is the HTTP disconnect or the run's end.
                self._keep_alive(connection, now, silent, heartbeat)
                continue
            if silent >= idle_timeout:
                connection.close(CloseCode.IDLE_TIMEOUT, "idle timeout")
                connection.closing_since = now
                continue
            # Keepalive for quiet clients, so dead peers are noticed (PROTOCOL.md §2).
            self._keep_alive(connection, now, silent, heartbeat)
            if presence.enabled and silent >= presence.offline_timeout and not connection.stale:
                connection.stale = True
                node.presence.announce_everywhere(connection, "presence_update")

    @staticmethod
    def _keep_alive(connection: Connection, now: float, silent: float, heartbeat: float) -> None:
        """Ping a connection quiet for a heartbeat, once per heartbeat (an SSE comment for SSE)."""
        if silent >= heartbeat and now - connection.last_ping >= heartbeat:
            connection.last_ping = now
            connection.send(_PING)

    @staticmethod
    def _settle_close(connection: Connection, now: float, grace: float) -> None:
        """A close was asked for: note when, and abort it once it has taken ``grace``.

        Still here after a close request usually means a peer that stopped
        reading, whose transport cannot even write the close frame.
        """
        if connection.closing_since is None:
            connection.closing_since = now
        elif now - connection.closing_since >= grace and connection.on_abort is not None:
            logger.info(
                "aborting %s: close %s not completed after %.1fs",
                connection.connection_id,
                connection.close_code,
                now - connection.closing_since,
            )
            connection.abort()
