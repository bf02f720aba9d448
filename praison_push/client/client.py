"""``AsyncPushClient``: the seed's ``PushClient`` API over the native dialect.

How the parts fit (PROTOCOL.md §2–§3):

* One **supervisor** task per client owns the connection: it reads frames and,
  when the connection drops with a code worth retrying, reconnects with
  jittered backoff. Reading never runs user code — replies resolve the futures
  of the requests awaiting them (:mod:`.requests`) and everything meant for
  handlers goes to the **dispatcher** (:mod:`.dispatch`), which runs them in
  order and then acknowledges the messages they saw.
* Channel messages pass a :class:`~praison_push.protocol.ReceiveTracker` first:
  redeliveries are dropped by ``event_id`` (and acknowledged again), and each
  channel's last ``(epoch, offset)`` is what a resubscribe after a reconnect
  asks the gateway to replay from.
* Requests are never lost to a reconnect: a request made while reconnecting is
  sent once the new connection is up, and one in flight when the old connection
  dropped is sent again (publishes carry an ``id``, so the gateway drops the
  duplicate). Either way it waits at most ``request_timeout``. The exception is
  ``execute``, which would start a second run: once sent, it is not re-sent.
* Agent runs (:mod:`.execution`): the ``execute.accepted`` reply registers the
  run's :class:`Execution` from the receive loop itself (a reply hook), so the
  events that follow the reply reach it even before ``execute()`` resumes. The
  run channel is then a subscription like any other, recovered with ``since``
  after a reconnect, and dropped once the run has ended.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import uuid
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

from praison_push.protocol import (
    AuthenticationFailed,
    Backoff,
    ChannelMessage,
    CloseCode,
    ConnectionClosedError,
    ErrorCode,
    FrameError,
    NotConnectedError,
    PresenceInfo,
    PresenceSnapshot,
    PublishReceipt,
    PushError,
    ReceiveTracker,
    RequestRefused,
    TransportError,
    should_reconnect,
)

from .dispatch import Dispatcher, Handler
from .execution import Execution
from .requests import PendingRequest, ReplyHook, RequestTracker
from .streams import MessageStream
from .transport import PushTransportProtocol, TransportFactory
from .urls import redact_url
from .validation import (
    MAX_ID_LENGTH,
    MAX_STATUS_LENGTH,
    check_channel,
    check_limit,
    check_metadata,
    check_since,
    check_text,
    check_timeout,
)
from .websocket import WebSocketTransport

__all__ = ["AsyncPushClient"]

logger = logging.getLogger("praison_push.client")

H = TypeVar("H", bound=Handler)

#: Used when the gateway's greeting names no ``heartbeat_interval``.
DEFAULT_HEARTBEAT_INTERVAL = 15.0
#: Most event ids in one ``message_ack`` frame (the gateway's limit).
MAX_ACK_BATCH = 1000
#: Longest agent, execution and session id the gateway accepts (``protocol/frames.py``).
MAX_EXECUTION_ID_LENGTH = 200
#: Prefix of a run's channel (PROTOCOL.md §4).
EXECUTION_CHANNEL_PREFIX = "executions:"
_AUTH_CLOSE_CODES = frozenset({CloseCode.AUTH_FAILED, CloseCode.AUTH_REQUIRED})


class _State(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class AsyncPushClient:
    """Channel pub/sub, presence and delivery acknowledgements over one gateway connection.

    Compatible with the seed's ``PushClient`` (``praisonai.push``): the same
    constructor arguments, verbs and ``on(...)`` events.

    Args:
        url: The gateway's WebSocket endpoint, e.g. ``ws://127.0.0.1:8765/ws``.
        auth_token: The gateway token, if it requires one.
        client_id: This client's identity; a fresh ``uuid4().hex`` by default.
            It is sent on every (re)connection, so presence and pending
            deliveries follow the client across reconnects.
        auto_reconnect: Reconnect (and recover missed messages) after the
            connection drops with a close code worth retrying.
        fallback_to_polling: Accepted for compatibility with the seed API and
            stored, but not acted on yet: the HTTP long-poll transport lands in
            a later release, so today a WebSocket failure is reported as such.
        transport_factory: Builds the transport for each connection attempt
            (``factory(url, auth_token, client_id=...)``);
            :class:`~praison_push.client.WebSocketTransport` by default.
        request_timeout: Seconds a request waits for its reply — and for a
            connection, while reconnecting — and ``connect()`` for the greeting.
        backoff: Delay schedule between reconnect attempts.
        max_reconnect_attempts: Give up after this many failed attempts in a
            row (``None``: never give up).

    Events for :meth:`on`: ``channel_message`` (a :class:`ChannelMessage`),
    ``presence_list`` (``{"clients": [...], "channel": ...}``), ``connected``
    (the gateway's greeting), ``disconnected`` (``{"code", "reason"}``),
    ``reconnecting`` (``{"attempt", "delay"}``), and any other frame type
    (``presence_join``, ``presence_leave``, ``error`` …) with the raw frame.
    """

    def __init__(
        self,
        url: str,
        auth_token: str | None = None,
        client_id: str | None = None,
        auto_reconnect: bool = True,
        fallback_to_polling: bool = True,
        *,
        transport_factory: TransportFactory | None = None,
        request_timeout: float = 10.0,
        backoff: Backoff | None = None,
        max_reconnect_attempts: int | None = None,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url must be a non-empty string, got {url!r}")
        if client_id is not None and (not isinstance(client_id, str) or not client_id):
            raise ValueError(f"client_id must be a non-empty string or None, got {client_id!r}")
        check_timeout(request_timeout, "request_timeout", allow_none=False)
        if max_reconnect_attempts is not None and max_reconnect_attempts < 0:
            raise ValueError(f"max_reconnect_attempts must be >= 0, got {max_reconnect_attempts!r}")
        self._url = url
        self._auth_token = auth_token
        self._client_id = client_id or uuid.uuid4().hex
        self._auto_reconnect = auto_reconnect
        self._fallback_to_polling = fallback_to_polling
        self._factory: TransportFactory = transport_factory or WebSocketTransport
        self._request_timeout = float(request_timeout)
        self._backoff = backoff or Backoff()
        self._max_reconnect_attempts = max_reconnect_attempts

        self._state = _State.IDLE
        self._up = False
        self._closing = False
        self._transport: PushTransportProtocol | None = None
        self._generation = 0
        self._greeting: dict[str, Any] = {}
        self._close_code: int | None = None
        self._close_reason = ""
        self._connect_lock = asyncio.Lock()
        self._finished = asyncio.Event()
        self._finished.set()  # nothing to wait for before the first connect()
        self._supervisor: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection_tasks: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()

        self._requests = RequestTracker()
        self._tracker = ReceiveTracker()
        self._dispatcher = Dispatcher(on_delivered=self._delivered, on_flush=self._flush_acks)
        self._unacked: list[str] = []
        self._subscriptions: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[ChannelMessage]]] = {}
        self._streams: set[MessageStream] = set()
        self._status: dict[str, Any] | None = None
        self._executions: dict[str, Execution] = {}
        self._run_channels: set[str] = set()  # subscribed for a run, dropped when it ends

    def __repr__(self) -> str:
        return (
            f"<AsyncPushClient {redact_url(self._url)} client_id={self._client_id} "
            f"{self._state.value}>"
        )

    # --- properties ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The gateway URL (credentials in it are redacted)."""
        return redact_url(self._url)

    @property
    def client_id(self) -> str:
        """This client's identity, stable across reconnects."""
        return self._client_id

    @property
    def is_connected(self) -> bool:
        """Whether a connection to the gateway is up right now."""
        return self._up

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop this client runs on (``None`` before ``connect()``).

        Code on another thread (a widget fed from the kernel, the blocking face)
        schedules work onto it with ``asyncio.run_coroutine_threadsafe``.
        """
        return self._loop

    @property
    def fallback_to_polling(self) -> bool:
        """The seed option as given (the polling transport is not implemented yet)."""
        return self._fallback_to_polling

    @property
    def subscriptions(self) -> frozenset[str]:
        """Channels subscribed to (and resubscribed after a reconnect)."""
        return frozenset(self._subscriptions)

    @property
    def closed(self) -> bool:
        """Whether the client closed for good: ``disconnect()``, a terminal close, a failed connect.

        ``False`` before the first ``connect()`` and while reconnecting;
        ``connect()`` may be called again after it turned ``True``.
        """
        return self._state is _State.CLOSED

    @property
    def close_code(self) -> int | None:
        """Why the client last closed for good (``None`` before that, or after a drop)."""
        return self._close_code

    # --- lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and wait for the gateway's greeting; a no-op when already connected.

        A failure here is reported, not retried: ``auto_reconnect`` covers
        connections that were up once.

        Raises:
            AuthenticationFailed: The gateway refused ``auth_token``.
            TransportError: The gateway cannot be reached or sent no greeting
                within ``request_timeout``.
        """
        async with self._connect_lock:
            if self._state in (_State.OPEN, _State.RECONNECTING):
                return
            self._state = _State.CONNECTING
            self._closing = False
            self._close_code, self._close_reason = None, ""
            self._finished.clear()
            self._dispatcher.start()
            try:
                await self._open()
            except BaseException as exc:
                self._finish(None, f"connect failed: {exc}")
                raise
            self._loop = asyncio.get_running_loop()
            self._supervisor = self._loop.create_task(
                self._supervise(), name=f"praison-push-client-{self._client_id[:8]}"
            )

    async def disconnect(self) -> None:
        """Close the connection for good; handlers already queued still run.

        Idempotent; waits for a ``connect()`` in progress first. Returns once
        queued handlers have run (at most ``request_timeout`` more, unless called
        from a handler). ``wait_closed()`` returns afterwards and further
        requests raise :class:`NotConnectedError`. A later ``connect()`` starts
        afresh: ``on()`` handlers are kept, subscriptions and their callbacks are not.
        """
        async with self._connect_lock:
            self._closing = True
            transport = self._transport
            if transport is not None:
                await _disconnect_quietly(transport)
            supervisor = self._supervisor
            if supervisor is not None and not supervisor.done():
                supervisor.cancel()
                await asyncio.wait({supervisor})
            # A supervisor cancelled before its first step never ran its cleanup.
            self._connection_lost(CloseCode.NORMAL, "disconnected by client")
            if self._state is not _State.IDLE:
                self._finish(CloseCode.NORMAL, "disconnected by client")
        await self._dispatcher.wait_stopped(self._request_timeout)

    async def wait_closed(self) -> None:
        """Wait until the client has closed for good and its handlers have run.

        That is after :meth:`disconnect`, a terminal close by the gateway
        (4001/4003/4008/4029, 1000, 1008, 1009), or running out of reconnect
        attempts. Returns at once before the first ``connect()``.
        """
        await self._finished.wait()
        await self._dispatcher.wait_stopped(None)

    async def aclose(self) -> None:
        """Close for good: the conventional name of :meth:`disconnect`."""
        await self.disconnect()

    async def __aenter__(self) -> AsyncPushClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # --- handlers ------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...

    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> Callable[[H], H] | H:
        """Call ``handler`` for every ``event`` (sync or async; see class doc).

        ``client.on("channel_message", handler)`` registers and returns
        ``handler``; without it, ``@client.on("channel_message")`` is a decorator.
        """
        if not isinstance(event, str) or not event:
            raise ValueError(f"event must be a non-empty string, got {event!r}")

        def register(handler: H) -> H:
            if not callable(handler):
                raise TypeError(f"on({event!r}) needs a callable, got {handler!r}")
            self._dispatcher.add_handler(event, handler)
            return handler

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Handler) -> bool:
        """Remove a handler added with :meth:`on`; tell whether it was registered."""
        return self._dispatcher.remove_handler(event, handler)

    # --- channels ------------------------------------------------------------------

    async def subscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        """Subscribe to ``channel``; ``callback`` (sync or async) gets each of its messages.

        Idempotent: subscribing again only adds ``callback``. The subscription
        is renewed after every reconnect, recovering what was missed.

        Raises:
            ValueError: ``channel`` is not a valid channel name.
            RequestRefused: The gateway refused (e.g. ``forbidden``).
            TimeoutError: No reply within ``request_timeout``.
            NotConnectedError: No connection (within ``request_timeout``).
        """
        check_channel(channel)
        if callback is not None:
            if not callable(callback):
                raise TypeError(f"callback must be callable, got {callback!r}")
            # Registered before the request, so messages replayed right after
            # the reply cannot slip past it.
            self._dispatcher.add_callback(channel, callback)
        # Subscribed by the user too: no longer dropped when the run ends.
        self._run_channels.discard(channel)
        if channel in self._subscriptions:
            return
        # A fresh subscription starts at the live edge: a position kept from an
        # earlier one would replay what was published while not subscribed.
        self._tracker.forget(channel)
        try:
            await self._request({"type": "channel.subscribe", "channel": channel})
        except BaseException:
            if callback is not None:
                self._dispatcher.remove_callback(channel, callback)
            raise
        self._subscriptions.add(channel)

    async def unsubscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        """Stop receiving ``channel``: forget its callbacks and end its ``messages()`` streams.

        With ``callback``, only that callback is forgotten and the channel stays
        subscribed (a notebook cell run again replaces its callback this way).
        Pending :meth:`wait_for` calls on ``channel`` fail with :class:`PushError`.
        """
        check_channel(channel)
        if callback is not None:
            self._dispatcher.remove_callback(channel, callback)
            return
        self._subscriptions.discard(channel)
        self._run_channels.discard(channel)
        self._dispatcher.clear_callbacks(channel)
        self._tracker.forget(channel)
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_exception(
                    PushError(f"unsubscribed from {channel!r} while wait_for() waited on it")
                )
        for stream in [s for s in self._streams if s.channel == channel]:
            self._detach_stream(stream)
            stream.end()
        await self._request({"type": "channel.unsubscribe", "channel": channel})

    async def publish(
        self, channel: str, data: Any, *, id: str | None = None, echo: bool = False
    ) -> PublishReceipt:
        """Publish ``data`` (any JSON value) on ``channel``.

        Args:
            channel: Where to publish.
            data: The payload.
            id: Idempotency key; a fresh one by default. A publish repeated
                with the same ``id`` (as after a reconnect) is published once.
            echo: Also deliver it to this client when it is subscribed to
                ``channel`` (by default the publisher is left out, as in PraisonAI).

        Raises:
            ValueError: Invalid ``channel`` or ``id``.
            TypeError: ``data`` is not JSON-serialisable.
            RequestRefused: The gateway refused (e.g. ``too_large``, ``forbidden``).
        """
        check_channel(channel)
        id = uuid.uuid4().hex if id is None else check_text(id, "id", MAX_ID_LENGTH)
        frame: dict[str, Any] = {
            "type": "channel.publish",
            "channel": channel,
            "data": data,
            "id": id,
        }
        if echo:
            frame["echo"] = True
        reply = await self._request(frame)
        return PublishReceipt.from_frame(reply)

    async def create_channel(self, channel: str, metadata: dict[str, Any] | None = None) -> None:
        """Create ``channel`` (with optional ``metadata``) on the gateway."""
        check_channel(channel)
        frame: dict[str, Any] = {"type": "channel.create", "channel": channel}
        if metadata is not None:
            frame["metadata"] = check_metadata(metadata)
        await self._request(frame)

    async def list_channels(self) -> list[str]:
        """The channels the gateway knows."""
        reply = await self._request({"type": "channel.list"})
        channels = reply.get("channels")
        return [str(c) for c in channels] if isinstance(channels, list) else []

    async def history(
        self,
        channel: str,
        *,
        since: ChannelMessage | Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[ChannelMessage]:
        """Messages kept in ``channel``'s history, oldest first.

        Args:
            channel: Whose history.
            since: Only messages after this position: a received
                :class:`ChannelMessage` or ``{"offset": int, "epoch": str}``.
            limit: At most this many messages (1–10000).
        """
        check_channel(channel)
        frame: dict[str, Any] = {"type": "channel.history", "channel": channel}
        if since is not None:
            frame["since"] = check_since(since)
        if limit is not None:
            frame["limit"] = check_limit(limit)
        reply = await self._request(frame)
        messages = reply.get("messages")
        if not isinstance(messages, list):
            return []
        return [ChannelMessage.from_event_dict(m) for m in messages if isinstance(m, dict)]

    async def wait_for(self, channel: str, timeout: float | None = 30.0) -> ChannelMessage:
        """The next message on ``channel``.

        Subscribes first when not subscribed, and stays subscribed.

        Raises:
            TimeoutError: (``asyncio.TimeoutError``) nothing arrived within ``timeout``.
            PushError: ``unsubscribe(channel)`` was called meanwhile.
            ConnectionClosedError: The client closed for good meanwhile.
        """
        check_channel(channel)
        check_timeout(timeout, "timeout", allow_none=True)
        waiter: asyncio.Future[ChannelMessage] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(channel, [])
        waiters.append(waiter)
        try:
            return await asyncio.wait_for(self._subscribe_and_wait(channel, waiter), timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(
                f"no message on channel {channel!r} within {timeout}s"
            ) from None
        finally:
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # retrieved, even when subscribing failed first
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters and self._waiters.get(channel) is waiters:
                del self._waiters[channel]

    async def _subscribe_and_wait(
        self, channel: str, waiter: asyncio.Future[ChannelMessage]
    ) -> ChannelMessage:
        if channel not in self._subscriptions:
            await self.subscribe(channel)
        return await waiter

    def messages(self, channel: str, *, maxsize: int = 1000) -> MessageStream:
        """``async for msg in client.messages(channel)``: subscribes, stays subscribed.

        Buffers at most ``maxsize`` messages for a slow loop body, dropping the
        oldest (with a warning) beyond that.
        """
        check_channel(channel)
        return MessageStream(self, channel, maxsize)

    # --- presence ------------------------------------------------------------------

    async def set_status(
        self, status: str = "online", metadata: dict[str, Any] | None = None
    ) -> None:
        """Set this client's presence status; kept alive by heartbeats and across reconnects."""
        frame: dict[str, Any] = {
            "type": "presence.heartbeat",
            "status": check_text(status, "status", MAX_STATUS_LENGTH),
        }
        if metadata is not None:
            frame["metadata"] = check_metadata(metadata)
        await self._request(dict(frame))
        self._status = frame

    async def get_presence(self, channel: str | None = None) -> PresenceSnapshot:
        """Who is connected (to ``channel``, or to the gateway); also fires ``presence_list``."""
        frame: dict[str, Any] = {"type": "presence.query"}
        if channel is not None:
            frame["channel"] = check_channel(channel)
        reply = await self._request(frame)
        entries = reply.get("presence")
        if not isinstance(entries, list):
            return PresenceSnapshot()
        return PresenceSnapshot(PresenceInfo.from_dict(e) for e in entries if isinstance(e, dict))

    # --- agent runs ----------------------------------------------------------------

    async def execute(
        self, agent_id: str, input: str, *, session_id: str | None = None
    ) -> Execution:
        """Start a run of agent ``agent_id`` on ``input``; returns its live :class:`Execution`.

        Returns once the gateway accepted the run; its events then stream into
        the handle (``async for event in execution``, ``await
        execution.result()``). The run belongs to the gateway: it goes on if
        this client disconnects, and a reconnect resumes watching it without
        gaps or repeats.

        Unlike other requests, ``execute`` is never sent twice: if the
        connection drops after it went out and before the gateway answered, it
        fails with :class:`TransportError`, as the run may have started.

        Args:
            agent_id: A registered agent (the gateway's demo agents are ``echo``,
                ``demo-weather`` and ``demo-long``).
            input: What the agent gets.
            session_id: Groups runs into a conversation the agent can see.

        Raises:
            RequestRefused: ``unknown_agent``, or ``invalid_field`` (e.g. an empty input).
            TransportError: The connection dropped before the gateway answered.
            TimeoutError: No reply within ``request_timeout``.
        """
        check_text(agent_id, "agent_id", MAX_EXECUTION_ID_LENGTH)
        if not isinstance(input, str):
            raise TypeError(f"input must be a str, got {type(input).__name__}")
        frame: dict[str, Any] = {"type": "execute", "agent_id": agent_id, "input": input}
        if session_id is not None:
            frame["session_id"] = check_text(session_id, "session_id", MAX_EXECUTION_ID_LENGTH)
        accepted: list[Execution] = []

        def on_accepted(reply: dict[str, Any]) -> None:
            # In the receive loop: the run's events may be the very next frames.
            accepted.append(self._watch_accepted(reply, agent_id))

        await self._request(frame, on_reply=on_accepted, resend=False)
        return accepted[0]

    async def attach(self, execution_id: str) -> Execution:
        """Watch a run started elsewhere (or earlier); its events are replayed from the first.

        Works while the run goes on and after it ended, as long as the
        gateway's history still holds its channel (otherwise
        :attr:`Execution.gap` is set). A run this client already watches
        returns the same handle. An id the gateway never published anything
        for is waited on like a run that has not started yet.

        Raises:
            ValueError: ``execution_id`` is empty or too long.
            RequestRefused: The gateway refused (``forbidden``: another organisation's run).
        """
        check_text(execution_id, "execution_id", MAX_EXECUTION_ID_LENGTH)
        channel = check_channel(EXECUTION_CHANNEL_PREFIX + execution_id)
        existing = self._executions.get(channel)
        if existing is not None:
            return existing
        epoch, agent_id = await self._run_epoch(channel)
        existing = self._executions.get(channel)  # attached meanwhile by another call
        if existing is not None:
            return existing
        execution = self._watch(execution_id, agent_id, channel)
        # Replay from the first event; the tracker must not jump to the channel's
        # latest offset when the reply arrives (see _on_subscribed).
        self._tracker.advance(channel, epoch, 0)
        frame = {
            "type": "channel.subscribe",
            "channel": channel,
            "since": {"offset": 0, "epoch": epoch},
        }
        try:
            await self._request(frame)
        except BaseException:
            self._forget_run(execution)
            raise
        return execution

    def _watch_accepted(self, reply: dict[str, Any], agent_id: str) -> Execution:
        execution_id = reply.get("execution_id")
        if not isinstance(execution_id, str) or not execution_id:
            raise FrameError(
                ErrorCode.BAD_FRAME, "execute.accepted names no execution_id", field="execution_id"
            )
        channel = reply.get("channel")
        if not isinstance(channel, str) or not channel:
            channel = EXECUTION_CHANNEL_PREFIX + execution_id
        return self._watch(execution_id, agent_id, channel)

    def _watch(self, execution_id: str, agent_id: str, channel: str) -> Execution:
        """Route ``channel``'s messages to a run's handle (synchronously: nothing slips by)."""
        existing = self._executions.get(channel)
        if existing is not None:
            return existing
        execution = Execution(execution_id, agent_id, channel=channel, client=self)
        self._executions[channel] = execution
        if channel not in self._subscriptions:
            self._subscriptions.add(channel)
            self._run_channels.add(channel)
        return execution

    def _forget_run(self, execution: Execution) -> None:
        """Stop routing to ``execution`` (attaching it failed)."""
        channel = execution.channel
        if self._executions.get(channel) is execution:
            del self._executions[channel]
        if channel in self._run_channels:
            self._run_channels.discard(channel)
            self._subscriptions.discard(channel)
            self._tracker.forget(channel)

    def _execution_ended(self, execution: Execution) -> None:
        """A run's terminal event arrived: keep its data, drop its subscription.

        Called from the receive loop; the unsubscribe goes out in the background.
        The subscription stays when the user subscribed to the channel as well.
        """
        channel = execution.channel
        if self._executions.get(channel) is execution:
            del self._executions[channel]
        if channel not in self._run_channels or self._dispatcher.has_callbacks(channel):
            return
        self._run_channels.discard(channel)
        self._subscriptions.discard(channel)
        self._tracker.forget(channel)
        if self._state in (_State.OPEN, _State.RECONNECTING):
            self._spawn(self._unsubscribe_quietly(channel))

    async def _unsubscribe_quietly(self, channel: str) -> None:
        try:
            await self._request({"type": "channel.unsubscribe", "channel": channel})
        except (PushError, asyncio.TimeoutError) as exc:
            logger.debug("unsubscribing from finished run %r failed: %s", channel, exc)

    async def _cancel_execution(self, execution_id: str) -> bool:
        reply = await self._request({"type": "execution.cancel", "execution_id": execution_id})
        return reply.get("ok") is True

    async def _run_epoch(self, channel: str) -> tuple[str, str]:
        """A run channel's history epoch, and its agent if an event names it.

        Replaying a run from its first event takes ``since {offset: 0, epoch}``,
        and only the gateway knows the epoch: the last history entry comes
        with it (and cheaply so, ``limit: 1``).
        """
        reply = await self._request({"type": "channel.history", "channel": channel, "limit": 1})
        epoch = reply.get("epoch")
        if not isinstance(epoch, str):
            raise FrameError(ErrorCode.BAD_FRAME, "channel.history names no epoch", field="epoch")
        agent_id = ""
        messages = reply.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            data = messages[-1].get("data")
            if isinstance(data, dict) and isinstance(data.get("agent_id"), str):
                agent_id = data["agent_id"]
        return epoch, agent_id

    # --- requests ------------------------------------------------------------------

    async def _request(
        self, frame: dict[str, Any], *, on_reply: ReplyHook | None = None, resend: bool = True
    ) -> dict[str, Any]:
        """Send ``frame`` with a fresh ``ref`` and return the reply echoing it.

        ``on_reply`` runs in the receive loop as the reply is matched;
        ``resend=False`` keeps the request from being sent again after a reconnect.
        """
        if self._state in (_State.IDLE, _State.CLOSED):
            raise NotConnectedError(self._why_not_connected())
        request = self._requests.open(frame, on_reply=on_reply, resend=resend)
        timer = asyncio.get_running_loop().call_later(self._request_timeout, self._expire, request)
        try:
            if self._up:
                await self._send_request(request)
            return await request.future
        finally:
            timer.cancel()
            self._requests.close(request)

    def _expire(self, request: PendingRequest) -> None:
        if request.future.done():
            return
        if self._up:
            error: Exception = asyncio.TimeoutError(
                f"no reply to {request.kind} within {self._request_timeout}s"
            )
        else:
            message = (
                f"{request.kind} not answered: no connection to the gateway "
                f"within {self._request_timeout}s"
            )
            if request.generation is not None and request.kind == "channel.publish":
                # It went out before the drop: the gateway may have published it.
                message += (
                    f"; it may have been published already - publish again with "
                    f"id={request.frame.get('id')!r} to publish it at most once"
                )
            error = NotConnectedError(message)
        request.future.set_exception(error)

    async def _send_request(self, request: PendingRequest) -> None:
        """Send on the current connection; a failed send is retried after the reconnect."""
        transport = self._transport
        if transport is None or not self._up:
            return
        request.generation = self._generation
        try:
            await transport.send(request.frame)
        except (TypeError, ValueError) as exc:
            if not request.future.done():
                error = TypeError(f"{request.kind}: data and metadata must be JSON-serialisable")
                error.__cause__ = exc
                request.future.set_exception(error)
        except TransportError as exc:
            logger.debug("%s not sent (%s); it is re-sent after reconnecting", request.kind, exc)

    def _why_not_connected(self) -> str:
        if self._state is _State.IDLE:
            return "not connected: call connect() first"
        reason = self._close_reason or "no reason"
        return f"the client is closed (code={self._close_code}, {reason})"

    # --- connection ---------------------------------------------------------------

    async def _open(self) -> None:
        """One connection attempt: connect the transport and await the greeting."""
        transport = self._factory(self._url, self._auth_token, client_id=self._client_id)
        try:
            await transport.connect()
            first = await asyncio.wait_for(_first_frame(transport), self._request_timeout)
        except BaseException as exc:
            await _disconnect_quietly(transport)
            if isinstance(exc, asyncio.TimeoutError):
                raise TransportError(
                    f"{redact_url(self._url)} sent no greeting within {self._request_timeout}s"
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
        greeting = first if first.get("type") == "connected" else None
        self._install(transport, greeting)
        if greeting is None:
            self._handle_frame(first)  # a gateway that does not greet: its first frame is news

    def _install(self, transport: PushTransportProtocol, greeting: dict[str, Any] | None) -> None:
        """Make ``transport`` the live connection and restore the session on it."""
        self._transport = transport
        self._generation += 1
        self._up = True
        self._state = _State.OPEN
        self._greeting = dict(greeting or {})
        client_id = self._greeting.get("client_id")
        if isinstance(client_id, str) and client_id and client_id != self._client_id:
            logger.info("gateway assigned client_id %s", client_id)
            self._client_id = client_id
        limit = self._greeting.get("max_message_size")
        if hasattr(transport, "max_message_size") and isinstance(limit, int) and limit > 0:
            transport.max_message_size = limit  # refuses oversized frames before sending
        interval = self._greeting.get("heartbeat_interval", DEFAULT_HEARTBEAT_INTERVAL)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            interval = DEFAULT_HEARTBEAT_INTERVAL
        logger.info("connected to %s as %s", redact_url(self._url), self._client_id)
        self._dispatcher.post_event("connected", dict(self._greeting))
        self._start_connection_task(self._restore(self._generation), "restore")
        if interval > 0:
            self._start_connection_task(self._heartbeat(float(interval)), "heartbeat")

    def _start_connection_task(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"praison-push-{what}")
        self._connection_tasks.add(task)
        task.add_done_callback(self._connection_tasks.discard)

    async def _supervise(self) -> None:
        """Read until the connection drops; reconnect while that is worth it."""
        code: int | None = CloseCode.NORMAL
        reason = "disconnected by client"
        try:
            while (transport := self._transport) is not None:
                code, reason = await self._read_frames(transport)
                self._connection_lost(code, reason)
                await _disconnect_quietly(transport)
                if self._closing:
                    break
                if not (self._auto_reconnect and should_reconnect(code)):
                    logger.info("connection closed for good (code=%s %s)", code, reason)
                    break
                failure = await self._reconnect(code)
                if failure is not None:
                    code, reason = failure
                    break
        finally:
            if self._closing:
                code, reason = CloseCode.NORMAL, "disconnected by client"
            self._connection_lost(code, reason)
            self._finish(code, reason)

    async def _read_frames(self, transport: PushTransportProtocol) -> tuple[int | None, str]:
        """The receive loop: route every frame until the connection closes; never runs user code."""
        while True:
            try:
                frame = await transport.receive()
            except FrameError as exc:
                logger.warning("skipping a malformed frame from the gateway: %s", exc)
                continue
            except ConnectionClosedError as exc:
                return exc.code, exc.reason
            except TransportError as exc:
                return None, str(exc)
            except Exception as exc:  # a custom transport's own failure: treat as a drop
                logger.warning("transport receive failed: %r", exc)
                return None, repr(exc)
            try:
                self._handle_frame(frame)
            except Exception:
                logger.exception("could not handle a %r frame", frame.get("type"))

    async def _reconnect(self, code: int | None) -> tuple[int | None, str] | None:
        """Reconnect with backoff; ``None`` on success, else the final close code and reason."""
        self._state = _State.RECONNECTING
        attempt = 0
        while self._max_reconnect_attempts is None or attempt < self._max_reconnect_attempts:
            delay = self._backoff.delay(attempt, random.random())
            attempt += 1
            self._dispatcher.post_event("reconnecting", {"attempt": attempt, "delay": delay})
            logger.info("reconnecting in %.2fs (attempt %d)", delay, attempt)
            await asyncio.sleep(delay)
            try:
                await self._open()
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

    def _connection_lost(self, code: int | None, reason: str) -> None:
        """Mark the connection down (once) and stop its per-connection tasks."""
        if not self._up:
            return
        self._up = False
        self._transport = None
        if code == CloseCode.MESSAGE_TOO_BIG:
            why = f"the gateway closed the connection: message too large (1009 {reason})".strip()
        else:
            why = "the connection dropped before the gateway answered"
        self._requests.fail_sent(
            self._generation,
            lambda request: TransportError(
                f"{request.kind}: {why}; not sent again, as the gateway may already have "
                "acted on it"
            ),
        )
        for task in self._connection_tasks:
            task.cancel()
        logger.info("connection to %s lost (code=%s)", redact_url(self._url), code)
        self._dispatcher.post_event("disconnected", {"code": code, "reason": reason})

    def _finish(self, code: int | None, reason: str) -> None:
        """Close for good: fail what waits, end streams, let the dispatcher drain."""
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        self._close_code, self._close_reason = code, reason
        self._requests.fail_all(lambda: ConnectionClosedError(code, reason))
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionClosedError(code, reason))
        # Streams end once the dispatcher drained what was queued for them.
        streams = tuple(self._streams)
        self._streams.clear()
        for execution in self._executions.values():
            execution._fail(ConnectionClosedError(code, reason))
        self._executions.clear()
        self._run_channels.clear()
        self._subscriptions.clear()
        self._tracker = ReceiveTracker()  # a later connect() starts from the live edge
        self._unacked.clear()
        self._status = None
        # The draining dispatcher keeps this session's channel callbacks.
        self._dispatcher.stop(lambda: _end_streams(streams))
        self._finished.set()

    async def _restore(self, generation: int) -> None:
        """On a new connection: re-send what the old one did not answer, then resubscribe."""
        for request in self._requests.unsent(generation):
            await self._send_request(request)
        if self._subscriptions:
            await asyncio.gather(*(self._resubscribe(c) for c in sorted(self._subscriptions)))
        if self._status is not None:
            await self._send_status()
        await self._flush_acks()

    async def _resubscribe(self, channel: str) -> None:
        frame: dict[str, Any] = {"type": "channel.subscribe", "channel": channel}
        try:
            position = self._tracker.position(channel)
            if position is None and channel in self._executions:
                # A run accepted but not heard from yet: replay it from its first event.
                epoch, _ = await self._run_epoch(channel)
                self._tracker.advance(channel, epoch, 0)
                position = (epoch, 0)
            if position is not None:
                frame["since"] = {"offset": position[1], "epoch": position[0]}
            await self._request(frame)
        except RequestRefused as exc:
            logger.warning("resubscribing to %r was refused (%s); dropping it", channel, exc)
            self._subscriptions.discard(channel)
        except (FrameError, TransportError, asyncio.TimeoutError) as exc:
            logger.warning("resubscribing to %r failed: %s", channel, exc)

    async def _heartbeat(self, interval: float) -> None:
        """Re-send the status set with ``set_status`` every ``interval`` seconds."""
        while True:
            await asyncio.sleep(interval)
            if self._status is not None:
                await self._send_status()

    async def _send_status(self) -> None:
        if self._status is None:  # pragma: no cover - callers check first
            return
        try:
            await self._request(dict(self._status))
        except (PushError, asyncio.TimeoutError) as exc:
            logger.debug("presence heartbeat failed: %s", exc)

    # --- receiving ---------------------------------------------------------------

    def _handle_frame(self, frame: dict[str, Any]) -> None:
        """Route one frame: replies to their requests, the rest to the dispatcher."""
        kind = frame.get("type")
        if kind == "channel_message":
            self._on_channel_message(frame)
            return
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if "id" in frame:
                pong["id"] = frame["id"]
            self._send_soon(pong)
            return
        taken = "ref" in frame and self._requests.resolve(frame)
        if kind == "channel.subscribed":
            self._on_subscribed(frame)
        elif kind == "presence.list":
            clients = frame.get("presence")
            if not isinstance(clients, list):
                clients = []
            self._dispatcher.post_event(
                "presence_list", {"clients": clients, "channel": frame.get("channel")}
            )
        elif kind == "error" and not taken:
            logger.warning("gateway error %s: %s", frame.get("code"), frame.get("message"))
        if isinstance(kind, str):
            self._dispatcher.post_event(kind, frame)

    def _on_channel_message(self, frame: dict[str, Any]) -> None:
        message = ChannelMessage.from_event_dict(frame)
        self._tracker.advance(message.channel, message.epoch, message.offset)
        execution = self._executions.get(message.channel)
        run_only = message.channel in self._run_channels  # (a run's last event ends that)
        if execution is not None:
            # Before the client-wide check: a run attached again after it was
            # watched once is replayed with event ids this client saw already.
            execution._feed(message)
        if not self._tracker.is_new(message.event_id):
            # A redelivery: handlers saw it already, but the gateway needs the ack again.
            logger.debug("dropping duplicate %s on %r", message.event_id, message.channel)
            self._dispatcher.post_ack(message.event_id)
            return
        waiters = self._waiters.get(message.channel)
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(message)
        if run_only and message.event_id:
            # Subscribed only to follow a run: its events go to the run handle, not
            # to every ``channel_message`` handler (subscribe to the channel to get them).
            self._dispatcher.post_ack(message.event_id)
            return
        self._dispatcher.post_message(message)

    def _on_subscribed(self, frame: dict[str, Any]) -> None:
        channel, epoch, offset = frame.get("channel"), frame.get("epoch"), frame.get("offset")
        if not (isinstance(channel, str) and isinstance(epoch, str) and isinstance(offset, int)):
            return
        if frame.get("recovered") is False and self._tracker.position(channel) is not None:
            logger.warning(
                "messages on %r missed while disconnected are no longer in history", channel
            )
            execution = self._executions.get(channel)
            if execution is not None:
                execution.gap = True
                if offset == 0:  # a new epoch with nothing in it: the gateway lost the run
                    execution._lost("the gateway no longer has this run (did it restart?)")
        current = self._tracker.position(channel)
        # A fresh subscription (or lost history) starts from the gateway's
        # position; a recovery keeps ours, advanced by the replayed messages.
        if current is None or current[0] != epoch:
            self._tracker.advance(channel, epoch, offset)

    def _delivered(self, event_id: str) -> None:
        self._unacked.append(event_id)

    async def _flush_acks(self) -> None:
        """Acknowledge delivered messages, up to ``MAX_ACK_BATCH`` ids per frame."""
        while self._unacked and self._up:
            transport = self._transport
            if transport is None:  # pragma: no cover - _up implies a transport
                return
            batch = self._unacked[:MAX_ACK_BATCH]
            del self._unacked[: len(batch)]
            try:
                await transport.send({"type": "message_ack", "event_ids": batch})
            except TransportError:
                self._unacked[:0] = batch  # kept for the next connection
                return

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background (from the receive loop, which must not wait)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _send_soon(self, frame: dict[str, Any]) -> None:
        """Fire-and-forget send from the receive loop (which must not wait on the socket)."""
        transport = self._transport
        if transport is None:  # pragma: no cover - frames only arrive while connected
            return
        task = asyncio.get_running_loop().create_task(_send_quietly(transport, frame))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- streams (used by MessageStream) ------------------------------------------

    def _attach_stream(self, stream: MessageStream) -> None:
        self._streams.add(stream)
        self._dispatcher.add_callback(stream.channel, stream.push)

    def _detach_stream(self, stream: MessageStream) -> None:
        self._streams.discard(stream)
        self._dispatcher.remove_callback(stream.channel, stream.push)


def _end_streams(streams: tuple[MessageStream, ...]) -> None:
    for stream in streams:
        stream.end()


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
