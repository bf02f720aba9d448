"""Long-poll sessions: a hub connection whose frames wait in a queue for the next poll.

A poll client is a first-class connection of the hub: ``register`` opens a
:class:`~praison_push.hub.Connection` (same limits, presence, acknowledged
delivery, permissions as ``/ws``) and attaches a :class:`PollSession` as its
:class:`~praison_push.hub.FrameSink`. Every command the HTTP routes carry is
handed to :meth:`Hub.receive` as the matching native frame; its reply is taken
out of the queue by its ``ref`` and returned in the HTTP response, while
everything else (channel messages, presence) waits for ``messages``.

A session ends when its client closes it, when the hub closes its connection
(slow consumer, shutdown: the next poll says so), or after ``2 ×
long_poll_timeout`` without a request — then the hub forgets the connection,
so the client leaves every channel and presence (PROTOCOL.md §5).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any

from ..hub import Connection, Hub, Principal
from ..protocol import CloseCode, encode_json

__all__ = ["PollSession", "PollSessions", "redact_poll_token"]

logger = logging.getLogger("praison_push.server")

_refs = itertools.count(1)


def redact_poll_token(scope: MutableMapping[str, Any]) -> None:
    """Drop ``poll_token`` from the scope's query string once read (access logs show it)."""
    from urllib.parse import parse_qsl, urlencode

    raw: bytes = scope.get("query_string", b"")
    if b"poll_token" not in raw:
        return
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key != "poll_token"]
    scope["query_string"] = urlencode(kept).encode("ascii")


class PollSession:
    """One poll client: its hub connection, its bounded queue of encoded frames, and a
    cursor so a batch lost on the way (a 502, a timeout) is sent again.

    Attributes:
        token: The unguessable poll token (never logged).
        connection: The hub connection.
        last_active: Hub-clock time of the last request (or of the end of the last poll).
        polling: Requests in flight (a session is never expired while one waits).
    """

    __slots__ = (
        "_bytes",
        "_queue",
        "_wake",
        "batch",
        "batch_cursor",
        "connection",
        "generation",
        "last_active",
        "polling",
        "token",
    )

    def __init__(self, token: str, connection: Connection, now: float) -> None:
        self.token = token
        self.connection = connection
        self.last_active = now
        self.polling = 0
        self.generation = 0
        self._queue: deque[str] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        #: The last batch sent and its cursor; resent when the client's next poll
        #: says it did not get it.
        self.batch: list[str] = []
        self.batch_cursor = 0

    def __repr__(self) -> str:
        return f"<PollSession client={self.connection.client_id} queued={len(self._queue)}>"

    # --- FrameSink -----------------------------------------------------------------

    def put(self, text: str) -> bool:
        connection = self.connection
        if (
            len(self._queue) >= connection.max_frames
            or self._bytes + len(text) > connection.max_bytes
        ):
            return False
        self._queue.append(text)
        self._bytes += len(text)
        self._wake.set()
        return True

    def discard(self) -> None:
        self._queue.clear()
        self._bytes = 0

    def backlog(self) -> int:
        """Bytes queued and not yet taken by a poll (what counts against ``max_bytes``)."""
        return self._bytes

    # --- the routes' side --------------------------------------------------------------

    def wake(self) -> None:
        """Wake a waiting poll (a frame arrived, the connection is closing, or a newer poll)."""
        self._wake.set()

    def take_reply(self, ref: str) -> dict[str, Any] | None:
        """Remove and decode the frame answering ``ref`` (searched from the newest)."""
        import json

        marker = f'"ref":"{ref}"'
        queue = self._queue
        for index in range(len(queue) - 1, -1, -1):
            text = queue[index]
            if marker in text:
                del queue[index]
                self._bytes -= len(text)
                reply: dict[str, Any] = json.loads(text)
                return reply
        return None

    def take(self, limit: int) -> list[str]:
        """Up to ``limit`` queued frames, oldest first."""
        queue = self._queue
        count = min(limit, len(queue))
        taken = [queue.popleft() for _ in range(count)]
        self._bytes -= sum(len(text) for text in taken)
        if not queue:
            self._wake.clear()
        return taken

    def queued(self) -> int:
        return len(self._queue)

    async def wait(self, timeout: float, generation: int) -> None:
        """Wait until a frame is queued, the connection closes, a newer poll starts,
        or ``timeout`` passes."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._queue and not self.connection.closing and generation == self.generation:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)


class PollSessions:
    """Every poll session of one gateway, by token, and the reaper that expires them.

    Args:
        hub: The hub the sessions are connections of.
        clock: The hub's clock.
    """

    def __init__(self, hub: Hub, clock: Callable[[], float] | None = None) -> None:
        self.hub = hub
        self.clock = clock or hub.clock
        self._sessions: dict[str, PollSession] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._empty = asyncio.Event()

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def expiry(self) -> float:
        """Seconds of silence after which a session ends (``2 × long_poll_timeout``)."""
        return 2.0 * self.hub.config.push.polling.long_poll_timeout

    def open(self, connection: Connection) -> PollSession:
        """Make ``connection`` a poll session (its queued greeting included)."""
        token = secrets.token_urlsafe(32)
        session = PollSession(token, connection, self.clock())
        connection.attach(session)
        connection.on_ready = lambda: self._ready(session)
        connection.on_abort = lambda: self.end(session)
        self._sessions[token] = session
        self._empty.clear()
        # The same client registering again replaces its older sessions (a reconnect).
        for other in list(self._sessions.values()):
            if (
                other is not session
                and other.connection.client_id == connection.client_id
                and other.connection.principal == connection.principal
            ):
                self.end(other)
        self._start_reaper()
        return session

    def _ready(self, session: PollSession) -> None:
        """A frame was queued or a close asked for: wake the poll; a shutdown ends idle sessions."""
        session.wake()
        connection = session.connection
        if connection.close_code == CloseCode.GOING_AWAY and session.polling == 0:
            asyncio.get_running_loop().call_soon(self.end, session)

    def get(self, token: str) -> PollSession | None:
        return self._sessions.get(token)

    def end(self, session: PollSession) -> None:
        """Forget the session and its hub connection (leaves channels and presence)."""
        if self._sessions.pop(session.token, None) is None:
            return
        connection = session.connection
        connection.on_ready = None
        connection.on_abort = None
        self.hub.disconnect(connection)
        connection.detach()
        session.wake()
        if not self._sessions:
            self._empty.set()

    def owned_by(self, session: PollSession, principal: Principal) -> bool:
        """Whether ``principal`` is the identity that registered ``session``."""
        return session.connection.principal == principal

    def touch(self, session: PollSession) -> None:
        """A request arrived: the client is alive (a ``pong`` to the hub marks it seen)."""
        session.last_active = self.clock()

    async def feed(self, session: PollSession, frame: dict[str, Any]) -> dict[str, Any] | None:
        """Hand ``frame`` to the hub as if the client had sent it; its reply, if any."""
        if frame["type"] == "pong":  # no reply: the queue is not searched
            await self.hub.receive(session.connection, '{"type":"pong"}')
            return None
        ref = f"poll{next(_refs)}"
        frame["ref"] = ref
        await self.hub.receive(session.connection, encode_json(frame))
        return session.take_reply(ref)

    def expire_silent(self, now: float) -> int:
        """End the sessions silent for longer than :attr:`expiry`; how many."""
        expiry = self.expiry
        ended = 0
        for session in list(self._sessions.values()):
            if session.polling:
                continue
            silent = now - session.last_active
            if session.connection.closing and silent >= min(expiry, 1.0):
                self.end(session)  # closed by the gateway, and its client is not asking
                ended += 1
            elif silent >= expiry:
                logger.info(
                    "poll session of %s expired after %.1fs of silence",
                    session.connection.client_id,
                    now - session.last_active,
                )
                self.end(session)
                ended += 1
        return ended

    def close_all(self) -> None:
        """End every session and stop the reaper (the gateway is shutting down)."""
        for session in list(self._sessions.values()):
            self.end(session)
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(
                self._reap(), name="praison-push-poll-reaper"
            )

    async def _reap(self) -> None:
        """Expire silent sessions; the task ends when no session is left."""
        interval = max(0.05, min(1.0, self.expiry / 8))
        while self._sessions:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._empty.wait(), interval)
            try:
                self.expire_silent(self.clock())
            except Exception:
                logger.exception("poll session upkeep failed")
