"""``AsyncPushClient``: the seed's ``PushClient`` API over the native dialect.

The public face over the client's parts (httpx's ``_client.py`` role; the
module map is in docs/ARCHITECTURE.md): it checks arguments and builds frames,
nothing more. :mod:`.driver` runs the sans-I/O :mod:`.session` over the
:mod:`.connection` supervisor. Reading never runs user code (PROTOCOL.md §2–§3).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

from praison_push.protocol import Backoff, RequestRefused

from . import run_verbs
from .connection import ConnectionState
from .dispatch import Handler
from .driver import SessionDriver
from .fallback import choose_factory
from .streams import MessageStream
from .transport import TransportFactory
from .urls import redact_url
from .validation import (
    MAX_ID_LENGTH,
    MAX_STATUS_LENGTH,
    check_channel,
    check_limit,
    check_metadata,
    check_options,
    check_since,
    check_text,
    check_timeout,
)
from .values import ChannelMessage, PresenceInfo, PresenceSnapshot, PublishReceipt

__all__ = ["AsyncPushClient"]

H = TypeVar("H", bound=Handler)

#: Most ``presence.list`` pages :meth:`AsyncPushClient.get_presence` reads (each up to
#: 1,000 entries): a bound, should a gateway keep answering with a cursor.
MAX_PRESENCE_PAGES = 1000


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
        fallback_to_polling: Connect over HTTP long-poll within 5 s when the WebSocket
            upgrade is refused or cut; back to WebSocket once it works (README).
        transports: Transports to try in order (``"websocket"``, ``"sse"``,
            ``"polling"``; one name forces it); overrides ``fallback_to_polling``.
        transport_factory: Builds the transport for each connection attempt
            (``factory(url, auth_token, client_id=...)``);
            :class:`~praison_push.client.WebSocketTransport` by default.
        request_timeout: Seconds a request waits for its reply — and for a
            connection, while reconnecting — and ``connect()`` for the greeting.
        backoff: Delay schedule between reconnect attempts.
        max_reconnect_attempts: Give up after this many failed attempts in a
            row (``None``: never give up).
        auto_ack: Acknowledge a message once its handlers returned without raising
            (batched: 100 ms, 100 ids); with ``False``, ``await msg.ack()`` /
            ``msg.nack(reason)``. What is not acknowledged comes back (PROTOCOL.md §3).
        max_queued_messages: Most messages waiting for the handlers; past it the
            client drops the connection and recovers the rest from history once the
            handlers are down to half (memory bounded; a handler awaiting a reply,
            ``wait_for()`` or a run's result still gets what arrives meanwhile).

    Events for :meth:`on`: ``channel_message`` (a :class:`ChannelMessage`),
    ``presence_list`` (``{"clients": [...], "channel": ...}``), ``connected``
    (the gateway's greeting), ``disconnected`` (``{"code", "reason"}``),
    ``reconnecting`` (``{"attempt", "delay"}``), ``gap`` (``{"channel", "epoch",
    "offset", "reason"}``: messages were lost from history or dropped for a slow
    consumer — never a silent gap), and any other frame type
    (``presence_join``, ``presence_leave``, ``error`` …) with the raw frame; a
    ``presence_diff`` fires one of those per client it lists, then itself.
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
        auto_ack: bool = True,
        transports: Sequence[str] | None = None,
        max_queued_messages: int = 10_000,
    ) -> None:
        check_options(url, client_id, request_timeout, max_reconnect_attempts, max_queued_messages)
        self._url = url
        self._fallback_to_polling = fallback_to_polling
        self._request_timeout = float(request_timeout)
        driver = SessionDriver(
            url,
            auth_token,
            client_id or uuid.uuid4().hex,
            factory=choose_factory(transport_factory, transports, fallback_to_polling),
            auto_reconnect=auto_reconnect,
            request_timeout=self._request_timeout,
            backoff=backoff or Backoff(),
            max_reconnect_attempts=max_reconnect_attempts,
            auto_ack=bool(auto_ack),
            max_queued_messages=max_queued_messages,
        )
        self._driver = driver
        self._connection, self._request = driver.connection, driver.requests.request
        self._session, self._dispatcher, self._runs = driver.session, driver.dispatcher, driver.runs

    def __repr__(self) -> str:
        state = self._connection.state.name.lower()
        return f"<AsyncPushClient {redact_url(self._url)} client_id={self.client_id} {state}>"

    # --- properties ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The gateway URL (credentials in it are redacted)."""
        return redact_url(self._url)

    @property
    def client_id(self) -> str:
        """This client's identity, stable across reconnects."""
        return self._connection.client_id

    @property
    def is_connected(self) -> bool:
        """Whether a connection to the gateway is up right now."""
        return self._connection.is_open

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop this client runs on (``None`` before ``connect()``).

        Code on another thread (a widget fed from the kernel, the blocking face)
        schedules work onto it with ``asyncio.run_coroutine_threadsafe``.
        """
        return self._connection.loop

    @property
    def fallback_to_polling(self) -> bool:
        """Whether HTTP long-poll is used when WebSocket is refused (the seed option)."""
        return self._fallback_to_polling

    @property
    def transport(self) -> str | None:
        """The transport in use: ``"websocket"``, ``"sse"``, ``"polling"`` (``None``: none).

        A change fires the ``transport_changed`` event (``{"transport", "previous"}``).
        """
        return self._driver.transport

    @property
    def subscriptions(self) -> frozenset[str]:
        """Channels subscribed to (and resubscribed after a reconnect)."""
        return self._session.subscriptions

    @property
    def auto_ack(self) -> bool:
        """Whether handled messages are acknowledged automatically."""
        return self._driver.auto_ack

    @property
    def closed(self) -> bool:
        """Whether the client closed for good: ``disconnect()``, a terminal close, a failed connect.

        ``False`` before the first ``connect()`` and while reconnecting;
        ``connect()`` may be called again after it turned ``True``.
        """
        return self._connection.state is ConnectionState.CLOSED

    @property
    def close_code(self) -> int | None:
        """Why the client last closed for good (``None`` before that, or after a drop)."""
        return self._connection.close_code

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
        await self._connection.open()

    async def disconnect(self) -> None:
        """Close the connection for good; handlers already queued still run.

        Idempotent; waits for a ``connect()`` in progress first. Returns once
        queued handlers have run (at most ``request_timeout`` more, unless called
        from a handler). ``wait_closed()`` returns afterwards and further
        requests raise :class:`NotConnectedError`. A later ``connect()`` starts
        afresh: ``on()`` handlers are kept, subscriptions and their callbacks are not.
        Messages already handled are acknowledged before the connection closes;
        the gateway redelivers the others when this ``client_id`` comes back.
        """
        await self._driver.acknowledge_handled()
        await self._connection.close()
        await self._dispatcher.wait_stopped(self._request_timeout)

    async def wait_closed(self) -> None:
        """Wait until the client has closed for good and its handlers have run.

        That is after :meth:`disconnect`, a terminal close by the gateway
        (4001/4003/4008/4029, 1000, 1008, 1009), or running out of reconnect
        attempts. Returns at once before the first ``connect()``.
        """
        await self._connection.wait_closed()
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
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        await self._driver.subscribe(channel, callback)

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
        await self._driver.unsubscribe(channel)

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
            RequestRefused: The gateway refused (e.g. ``too_large``, ``forbidden``;
                ``rate_limited`` only once waiting would pass ``request_timeout``).
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
        return PublishReceipt.from_frame(await self._publish(frame))

    async def _publish(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a publish; past the gateway's ``publish_rate`` (``rate_limited``), wait the
        ``retry_after`` it names and send it again (same ``id``: published once), for at
        most ``request_timeout`` in all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        while True:
            try:
                return await self._request(dict(frame))
            except RequestRefused as exc:
                wait = exc.details.get("retry_after")
                if exc.code != "rate_limited" or not isinstance(wait, (int, float)):
                    raise
                if loop.time() + wait > deadline:
                    raise
                await asyncio.sleep(max(float(wait), 0.001))

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
        messages = (await self._request(frame)).get("messages")
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
        return await self._driver.next_message(channel, timeout)

    def messages(self, channel: str, *, maxsize: int = 1000) -> MessageStream:
        """``async for msg in client.messages(channel)``: subscribes, stays subscribed.

        Buffers at most ``maxsize`` messages for a slow loop body, dropping the
        oldest (with a warning) beyond that.
        """
        check_channel(channel)
        return self._driver.open_stream(channel, maxsize)

    # --- acknowledgements -------------------------------------------------------------

    async def ack(self, message: ChannelMessage | str) -> bool:
        """Acknowledge ``message`` (or an ``event_id``) now, as ``msg.ack()`` does.

        Returns whether the gateway was tracking the delivery (``False`` for one
        acknowledged already, dead-lettered, or on an untracked channel).

        Raises:
            ValueError: ``message`` has no ``event_id``.
            TimeoutError, NotConnectedError: As for any request.
        """
        return await self._driver.ack(message)

    async def nack(self, message: ChannelMessage | str, reason: str = "") -> bool:
        """Send ``message`` (or an ``event_id``) to ``$dead-letter`` now, as ``msg.nack()`` does.

        ``reason`` (at most 500 characters) is kept in the dead letter. Returns
        whether the gateway was tracking the delivery.

        Raises:
            ValueError: ``message`` has no ``event_id``, or ``reason`` is too long.
            TimeoutError, NotConnectedError: As for any request.
        """
        return await self._driver.nack(message, reason)

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
        self._session.status = frame

    async def get_presence(self, channel: str | None = None) -> PresenceSnapshot:
        """Who is connected (to ``channel``, or to the gateway); also fires ``presence_list``.

        The gateway answers in pages (``next_cursor``); every page is read, up to
        :data:`MAX_PRESENCE_PAGES`.
        """
        frame: dict[str, Any] = {"type": "presence.query"}
        if channel is not None:
            frame["channel"] = check_channel(channel)
        found: list[PresenceInfo] = []
        for _ in range(MAX_PRESENCE_PAGES):
            reply = await self._request(dict(frame))
            entries = reply.get("presence")
            if isinstance(entries, list):
                found.extend(PresenceInfo.from_dict(e) for e in entries if isinstance(e, dict))
            cursor = reply.get("next_cursor")
            if not isinstance(cursor, str) or not entries:
                break
            frame["cursor"] = cursor
        return PresenceSnapshot(found)

    # --- agent runs (the verbs live in run_verbs.py) ---------------------------------

    execute = run_verbs.execute
    attach = run_verbs.attach
    approve = run_verbs.approve
