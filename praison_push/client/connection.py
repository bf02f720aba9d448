"""The connection supervisor: one live connection at a time, reconnected while worth it.

One task per client owns the connection: it reads frames and hands each to
the client (never running user code itself), and when the connection drops
with a close code worth retrying (PROTOCOL.md §2) it dials again with jittered
backoff. The whole lifecycle is one :class:`ConnectionState`::

    IDLE ──connect()──▶ CONNECTING ──greeting──▶ OPEN ◀───────┐
                            │                      │ drop      │ greeting
                            │ failed               ▼           │
                            │                 RECONNECTING ────┘
                            ▼                      │ terminal close, auth refused,
    CLOSED ◀────────────────┴──────────────────────┘ out of attempts
      ▲
      └── CLOSING ◀── disconnect() from OPEN or RECONNECTING

``disconnect()`` during ``connect()`` waits for it first. A later
``connect()`` leaves ``CLOSED`` for ``CONNECTING`` again. The client
hears about each step through narrow :class:`ConnectionHooks`, so this module
knows nothing of requests, subscriptions or handlers.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from praison_push.protocol import (
    AuthenticationFailed,
    Backoff,
    CloseCode,
    ConnectionClosedError,
    FrameError,
    NotConnectedError,
    TransportError,
    should_reconnect,
)

from .transport import PushTransportProtocol, TransportFactory
from .urls import redact_url

__all__ = ["DEFAULT_HEARTBEAT_INTERVAL", "Connection", "ConnectionHooks", "ConnectionState"]

logger = logging.getLogger("praison_push.client")

#: Used when the gateway's greeting names no ``heartbeat_interval``.
DEFAULT_HEARTBEAT_INTERVAL = 15.0
_AUTH_CLOSE_CODES = frozenset({CloseCode.AUTH_FAILED, CloseCode.AUTH_REQUIRED})
_BY_CLIENT = "disconnected by client"


class ConnectionState(enum.IntEnum):
    """Where a client's connection stands (see the module docstring for the transitions)."""

    IDLE = 0
    """Never connected: requests fail at once."""
    CONNECTING = 1
    """``connect()`` dials and waits for the greeting."""
    OPEN = 2
    """A connection is up: requests are sent."""
    RECONNECTING = 3
    """The connection dropped: requests wait for the next one (or for the close)."""
    CLOSING = 4
    """``disconnect()`` is closing for good."""
    CLOSED = 5
    """Closed for good: requests fail at once until the next ``connect()``."""


@dataclass(frozen=True)
class ConnectionHooks:
    """What the supervisor tells its client, each a narrow callback.

    Attributes:
        connecting: ``connect()`` starts a session (before dialling).
        opened: A connection is up; called with the greeting (``{}`` if none).
        frame: A frame arrived (in the receive loop: must not wait).
        restore: Run as a task on each new connection, with its generation.
        heartbeat: Awaited every ``heartbeat_interval`` the greeting names.
        lost: The connection of that generation dropped (code, reason).
        reconnecting: Reconnect attempt number, and the delay before it.
        closed: Closed for good (code, reason).
    """

    connecting: Callable[[], None]
    opened: Callable[[dict[str, Any]], None]
    frame: Callable[[dict[str, Any]], None]
    restore: Callable[[int], Coroutine[Any, Any, None]]
    heartbeat: Callable[[], Awaitable[None]]
    lost: Callable[[int, int | None, str], None]
    reconnecting: Callable[[int, float], None]
    closed: Callable[[int | None, str], None]


class Connection:
    """Dials, reads, reconnects and closes one client's connection.

    Args:
        url: The gateway URL (kept; shown redacted).
        auth_token: Passed to the transport factory.
        client_id: Sent on every (re)connection; replaced by one the gateway assigns.
        factory: Builds the transport of each attempt.
        hooks: How the client hears about the connection.
        auto_reconnect: Reconnect after a drop worth retrying.
        open_timeout: Seconds to wait for the greeting.
        backoff: Delay schedule between reconnect attempts.
        max_reconnect_attempts: Give up after this many failures in a row (``None``: never).
    """

    def __init__(
        self,
        url: str,
        auth_token: str | None,
        client_id: str,
        *,
        factory: TransportFactory,
        hooks: ConnectionHooks,
        auto_reconnect: bool,
        open_timeout: float,
        backoff: Backoff,
        max_reconnect_attempts: int | None,
    ) -> None:
        self._url = url
        self._auth_token = auth_token
        self.client_id = client_id
        self._factory = factory
        self._hooks = hooks
        self._auto_reconnect = auto_reconnect
        self._open_timeout = open_timeout
        self._backoff = backoff
        self._max_attempts = max_reconnect_attempts
        self._state = ConnectionState.IDLE
        self._changed = asyncio.Event()
        self._transport: PushTransportProtocol | None = None
        self.generation = 0
        self.close_code: int | None = None
        self.close_reason = ""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._connection_tasks: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()
        #: Why :meth:`drop` closed the live connection (``None``: it did not).
        self._dropped: str | None = None

    def __repr__(self) -> str:
        return f"<Connection {redact_url(self._url)} {self._state.name.lower()}>"

    @property
    def state(self) -> ConnectionState:
        """Where the connection stands."""
        return self._state

    @property
    def is_open(self) -> bool:
        """Whether a connection is up right now."""
        return self._state is ConnectionState.OPEN

    def why_not_connected(self) -> str:
        """Why a request cannot be made now (``IDLE`` or ``CLOSED``)."""
        if self._state is ConnectionState.IDLE:
            return "not connected: call connect() first"
        reason = self.close_reason or "no reason"
        return f"the client is closed (code={self.close_code}, {reason})"

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and wait for the greeting (a no-op while open or reconnecting)."""
        async with self._lock:
            if self._state in (ConnectionState.OPEN, ConnectionState.RECONNECTING):
                return
            self._set_state(ConnectionState.CONNECTING)
            self.close_code, self.close_reason = None, ""
            self._hooks.connecting()
            try:
                await self._dial()
            except BaseException as exc:
                self._finish(None, f"connect failed: {exc}")
                raise
            self.loop = asyncio.get_running_loop()
            self._supervisor = self.loop.create_task(
                self._supervise(), name=f"praison-push-client-{self.client_id[:8]}"
            )

    @property
    def transport(self) -> PushTransportProtocol | None:
        """The open transport, if any."""
        return self._transport

    async def close(self) -> None:
        """Close for good: stop reading and reconnecting, then close the transport."""
        async with self._lock:
            if self._state in (ConnectionState.IDLE, ConnectionState.CLOSED):
                return
            self._set_state(ConnectionState.CLOSING)
            transport, supervisor = self._transport, self._supervisor
            if supervisor is not None and not supervisor.done():
                supervisor.cancel()
                await asyncio.wait({supervisor})
            if transport is not None:
                await _disconnect_quietly(transport)
            # A supervisor cancelled before its first step never ran its cleanup.
            self._lost(CloseCode.NORMAL, _BY_CLIENT)
            self._finish(CloseCode.NORMAL, _BY_CLIENT)

    async def wait_closed(self) -> None:
        """Wait until closed for good (at once before the first ``open()``)."""
        while self._state not in (ConnectionState.IDLE, ConnectionState.CLOSED):
            await self._changed.wait()

    # --- sending -------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        """Send on the open connection.

        Raises:
            NotConnectedError: No connection is open.
            TransportError: The transport failed to send.
            TypeError: ``frame`` is not JSON-serialisable (or ``ValueError``).
        """
        transport = self._transport
        if transport is None or not self.is_open:
            raise NotConnectedError("no connection to the gateway is open")
        await transport.send(frame)

    def send_soon(self, frame: dict[str, Any]) -> None:
        """Send without waiting (from the receive loop, which must not wait on the socket)."""
        transport = self._transport
        if transport is not None:
            self.background(_send_quietly(transport, frame))

    def drop(self, reason: str) -> None:
        """Close the live connection and reconnect as after a 1013 (slow consumer).

        The client's handlers fell behind: what the connection still carries is
        dropped, and the next connection recovers it from the gateway's history.
        """
        transport = self._transport
        if transport is None or self._dropped is not None:
            return
        self._dropped = reason
        self.background(_disconnect_quietly(transport))

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task of this client, outliving the current connection."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- the supervisor -------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Read until the connection drops; reconnect while that is worth it."""
        code: int | None = CloseCode.NORMAL
        reason = _BY_CLIENT
        try:
            while (transport := self._transport) is not None:
                code, reason = await self._read(transport)
                self._lost(code, reason)
                await _disconnect_quietly(transport)
                if self._state is ConnectionState.CLOSING:
                    break
                if not (self._auto_reconnect and should_reconnect(code)):
                    logger.info("connection closed for good (code=%s %s)", code, reason)
                    break
                failure = await self._reconnect(code)
                if failure is not None:
                    code, reason = failure
                    break
        finally:
            if self._state is ConnectionState.CLOSING:
                code, reason = CloseCode.NORMAL, _BY_CLIENT
            self._lost(code, reason)
            self._finish(code, reason)

    async def _read(self, transport: PushTransportProtocol) -> tuple[int | None, str]:
        """The receive loop: hand on every frame until the connection closes."""
        while True:
            try:
                frame = await transport.receive()
            except FrameError as exc:
                logger.warning("skipping a malformed frame from the gateway: %s", exc)
                continue
            except (ConnectionClosedError, TransportError) as exc:
                if self._dropped is not None:
                    return CloseCode.SLOW_CONSUMER, self._dropped
                if isinstance(exc, ConnectionClosedError):
                    return exc.code, exc.reason
                return None, str(exc)
            except Exception as exc:  # a custom transport's own failure: treat as a drop
                logger.warning("transport receive failed: %r", exc)
                return None, repr(exc)
            try:
                self._hooks.frame(frame)
            except Exception:
                kind = frame.get("type") if isinstance(frame, dict) else type(frame).__name__
                logger.exception("could not handle a %r frame", kind)

    async def _reconnect(self, code: int | None) -> tuple[int | None, str] | None:
        """Reconnect with backoff; ``None`` on success, else the final close code and reason."""
        attempt = 0
        while self._max_attempts is None or attempt < self._max_attempts:
            if self._state is ConnectionState.CLOSING:
                return CloseCode.NORMAL, _BY_CLIENT  # close() began; its cancel was lost (_dial)
            delay = self._backoff.delay(attempt, random.random())
            attempt += 1
            self._hooks.reconnecting(attempt, delay)
            logger.info("reconnecting in %.2fs (attempt %d)", delay, attempt)
            await asyncio.sleep(delay)
            try:
                await self._dial()
            except AuthenticationFailed as exc:
                logger.warning("reconnect refused by the gateway: %s", exc)
                return CloseCode.AUTH_REQUIRED, str(exc)
            except TransportError as exc:
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                continue
            except Exception as exc:  # a custom transport's bug: keep trying, but say so
                logger.warning("reconnect attempt %d failed: %r", attempt, exc)
                continue
            return None
        logger.warning("gave up reconnecting after %d attempts", attempt)
        return code, f"gave up after {attempt} reconnect attempts"

    async def _dial(self) -> None:
        """One connection attempt: connect a transport and await the greeting."""
        transport = self._factory(self._url, self._auth_token, client_id=self.client_id)
        try:
            await transport.connect()
            first = await asyncio.wait_for(_first_frame(transport), self._open_timeout)
        except BaseException as exc:
            await _disconnect_quietly(transport)
            if isinstance(exc, asyncio.TimeoutError):
                raise TransportError(
                    f"{redact_url(self._url)} sent no greeting within {self._open_timeout}s"
                ) from exc
            if isinstance(exc, ConnectionClosedError) and exc.code in _AUTH_CLOSE_CODES:
                raise AuthenticationFailed(
                    "auth_required", f"the gateway closed the connection with {exc.code}"
                ) from exc
            raise
        if first.get("type") == "hello_error":
            await _disconnect_quietly(transport)
            raise AuthenticationFailed(
                str(first.get("code", "auth_required")), str(first.get("message", ""))
            )
        if self._state is ConnectionState.CLOSING:
            # close() cancelled this dial, but the cancel was lost: Python 3.11's
            # wait_for drops one that lands as its result is ready, and a timeout
            # racing a cancel can surface as an error instead. Never reopen then.
            await _disconnect_quietly(transport)
            raise asyncio.CancelledError
        greeting = first if first.get("type") == "connected" else None
        self._install(transport, greeting)
        if greeting is None:
            self._hooks.frame(first)  # a gateway that does not greet: its first frame is news

    def _install(self, transport: PushTransportProtocol, greeting: dict[str, Any] | None) -> None:
        """Make ``transport`` the live connection and let the client restore its session."""
        self._transport = transport
        self._dropped = None
        self.generation += 1
        self._set_state(ConnectionState.OPEN)
        greeting = dict(greeting or {})
        client_id = greeting.get("client_id")
        if isinstance(client_id, str) and client_id and client_id != self.client_id:
            logger.info("gateway assigned client_id %s", client_id)
            self.client_id = client_id
        limit = greeting.get("max_message_size")
        if hasattr(transport, "max_message_size") and isinstance(limit, int) and limit > 0:
            transport.max_message_size = limit  # refuses oversized frames before sending
        interval = greeting.get("heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            interval = DEFAULT_HEARTBEAT_INTERVAL
        logger.info("connected to %s as %s", redact_url(self._url), self.client_id)
        self._hooks.opened(greeting)
        self._start_connection_task(self._hooks.restore(self.generation), "restore")
        if interval > 0:
            self._start_connection_task(self._beat(float(interval)), "heartbeat")

    async def _beat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self._hooks.heartbeat()

    def _start_connection_task(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=f"praison-push-{what}")
        self._connection_tasks.add(task)
        task.add_done_callback(self._connection_tasks.discard)

    def _lost(self, code: int | None, reason: str) -> None:
        """Mark the connection down (once) and stop its per-connection tasks."""
        if self._transport is None:
            return
        self._transport = None
        if self._state is ConnectionState.OPEN:
            self._set_state(ConnectionState.RECONNECTING)
        for task in self._connection_tasks:
            task.cancel()
        logger.info("connection to %s lost (code=%s)", redact_url(self._url), code)
        self._hooks.lost(self.generation, code, reason)

    def _finish(self, code: int | None, reason: str) -> None:
        """Close for good (once): record why, and let the client fail what waits."""
        if self._state is ConnectionState.CLOSED:
            return
        self._set_state(ConnectionState.CLOSED)
        self.close_code, self.close_reason = code, reason
        self._hooks.closed(code, reason)

    def _set_state(self, state: ConnectionState) -> None:
        self._state = state
        self._changed.set()
        self._changed = asyncio.Event()


async def _first_frame(transport: PushTransportProtocol) -> dict[str, Any]:
    while True:
        try:
            return await transport.receive()
        except FrameError as exc:
            logger.warning("skipping a malformed frame from the gateway: %s", exc)


async def _disconnect_quietly(transport: PushTransportProtocol) -> None:
    try:
        await transport.disconnect()
    except Exception as exc:
        logger.debug("error while closing the transport: %r", exc)


async def _send_quietly(transport: PushTransportProtocol, frame: dict[str, Any]) -> None:
    try:
        await transport.send(frame)
    except TransportError as exc:
        logger.debug("could not send %s: %s", frame.get("type"), exc)
