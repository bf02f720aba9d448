"""The blocking ``PushClient``: the async client's verbs, for code that does not ``await``.

No protocol logic lives here. Each method ships the matching
:class:`~praison_push.client.AsyncPushClient` coroutine to the shared portal
loop (:mod:`.portal`) and blocks until it is done, so both faces behave the
same by construction; their signatures and docstrings are the same too
(:mod:`.mirror`), except where the faces differ on purpose. Callbacks
registered here are plain functions; they run on this client's
:class:`~.worker.CallbackWorker` thread, in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, overload

from praison_push.client import (
    AsyncPushClient,
    Backoff,
    ChannelMessage,
    Execution,
    Handler,
    MessageStream,
    PresenceSnapshot,
    PublishReceipt,
    TransportFactory,
)

from .execution import SyncExecution
from .messages import SyncChannelMessage, blocking
from .mirror import mirrors
from .portal import Portal, get_portal
from .worker import CallbackWorker

__all__ = ["MessageIterator", "PushClient"]

H = TypeVar("H", bound=Callable[..., Any])


class PushClient:
    """Blocking channel pub/sub and presence; same arguments and verbs as the async client.

    Works in scripts, the REPL, IPython and Jupyter alike — also from code
    running inside an event loop (a notebook cell, an ``async def``), where it
    blocks only the calling thread. See
    :class:`~praison_push.client.AsyncPushClient` for the arguments.

    Callbacks (``subscribe(channel, callback)``, ``@client.on(event)``) run on
    a per-client worker thread, one at a time and in arrival order; a callback
    may block and may call this client's methods. From inside a callback,
    ``disconnect()`` only starts the disconnect (waiting there would wait for
    the callback itself), and ``wait_closed()`` and ``messages()`` refuse to run.
    """

    #: The run handle ``execute``/``attach`` return; a subclass may return its own
    #: (the notebook client's handles add a live widget) without this layer
    #: importing the one above it.
    execution_class: type[SyncExecution] = SyncExecution

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
        self._portal: Portal = get_portal()
        # Built on the portal loop, where all of its coroutines will run.
        self._client = self._portal.run_sync(
            AsyncPushClient,
            url,
            auth_token,
            client_id,
            auto_reconnect,
            fallback_to_polling,
            transport_factory=transport_factory,
            request_timeout=request_timeout,
            backoff=backoff,
            max_reconnect_attempts=max_reconnect_attempts,
            auto_ack=auto_ack,
            transports=transports,
            max_queued_messages=max_queued_messages,
        )
        self._worker = CallbackWorker(f"praison-push-callbacks-{self._client.client_id[:8]}")
        self._reaper: concurrent.futures.Future[None] | None = None
        self._handlers: dict[tuple[str, Callable[..., Any]], Handler] = {}
        #: What ``subscribe(channel, callback)`` registered, so one callback can be removed.
        self._callbacks: dict[tuple[str, Callable[..., Any]], list[Handler]] = {}
        self._runs: weakref.WeakValueDictionary[str, SyncExecution] = weakref.WeakValueDictionary()

    def __repr__(self) -> str:
        return repr(self._client).replace("<AsyncPushClient", "<PushClient", 1)

    @property
    def async_client(self) -> AsyncPushClient:
        """The async client underneath (its coroutines must run on the portal loop)."""
        return self._client

    @property
    @mirrors(AsyncPushClient.url)
    def url(self) -> str:
        return self._client.url

    @property
    @mirrors(AsyncPushClient.client_id)
    def client_id(self) -> str:
        return self._client.client_id

    @property
    @mirrors(AsyncPushClient.is_connected)
    def is_connected(self) -> bool:
        return self._client.is_connected

    @property
    @mirrors(AsyncPushClient.fallback_to_polling)
    def fallback_to_polling(self) -> bool:
        return self._client.fallback_to_polling

    @property
    @mirrors(AsyncPushClient.transport)
    def transport(self) -> str | None:
        return self._client.transport

    @property
    @mirrors(AsyncPushClient.subscriptions)
    def subscriptions(self) -> frozenset[str]:
        return self._client.subscriptions

    @property
    @mirrors(AsyncPushClient.auto_ack)
    def auto_ack(self) -> bool:
        return self._client.auto_ack

    @property
    @mirrors(AsyncPushClient.closed)
    def closed(self) -> bool:
        return self._client.closed

    @property
    @mirrors(AsyncPushClient.close_code)
    def close_code(self) -> int | None:
        return self._client.close_code

    # --- lifecycle -------------------------------------------------------------

    @mirrors(AsyncPushClient.connect)
    def connect(self) -> None:
        self._portal.call(self._client.connect())
        if self._reaper is None or self._reaper.done():
            self._reaper = self._portal.submit(self._stop_worker_when_closed())

    async def _stop_worker_when_closed(self) -> None:
        """End the callback thread once the client closes for good, however it closes
        (``disconnect()``, or a terminal close by the gateway); a later ``connect()``
        and the next callback start a fresh one."""
        await self._client.wait_closed()
        self._worker.stop()

    def disconnect(self) -> None:
        """Close for good, after queued callbacks ran; from a callback, only start closing.

        Idempotent. ``wait_closed()`` returns afterwards and further requests
        raise :class:`NotConnectedError`. A later ``connect()`` starts afresh:
        ``on()`` handlers are kept, subscriptions and their callbacks are not.
        """
        if self._worker.in_worker():
            self._portal.submit(self._client.disconnect())
            return
        self._portal.call(self._client.disconnect())
        self._worker.stop()

    def close(self) -> None:
        """Close for good: the conventional name of :meth:`disconnect`."""
        self.disconnect()

    def wait_closed(self, timeout: float | None = None) -> None:
        """Block until the client has closed for good and its handlers have run.

        See ``AsyncPushClient.wait_closed``; refused inside a callback.

        Raises:
            TimeoutError: Still open after ``timeout`` seconds.
        """
        self._refuse_in_callback("wait_closed()")
        self._portal.call(self._client.wait_closed(), timeout)

    def __enter__(self) -> PushClient:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    # --- handlers ----------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...

    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> Callable[[H], H] | H:
        """Call ``handler`` for every ``event`` (on the callback thread).

        ``client.on("channel_message", handler)`` registers and returns
        ``handler``; without it, ``@client.on(event)`` is a decorator.
        Registering the same function for the same event again is a no-op.
        Coroutine functions run on the portal loop instead.
        """

        def register(handler: H) -> H:
            if (event, handler) in self._handlers:
                return handler  # registered already: once is enough (and off() removes it)
            adapted = self._adapt(handler)
            self._portal.run_sync(self._client.on(event), adapted)
            self._handlers[(event, handler)] = adapted
            return handler

        return register if handler is None else register(handler)

    @mirrors(AsyncPushClient.off)
    def off(self, event: str, handler: Handler) -> bool:
        adapted = self._handlers.pop((event, handler), None)
        if adapted is None:
            return False
        return self._portal.run_sync(self._client.off, event, adapted)

    # --- channels ----------------------------------------------------------------

    def subscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        """Subscribe to ``channel``; ``callback`` gets each of its messages on the callback thread.

        Idempotent: subscribing again only adds ``callback``. The subscription
        is renewed after every reconnect, recovering what was missed. A
        coroutine function runs on the portal loop instead.

        Raises:
            ValueError: ``channel`` is not a valid channel name.
            RequestRefused: The gateway refused (e.g. ``forbidden``).
            TimeoutError: No reply within ``request_timeout``.
            NotConnectedError: No connection (within ``request_timeout``).
        """
        adapted = None if callback is None else self._adapt(callback)
        self._portal.call(self._client.subscribe(channel, adapted))
        if callback is not None and adapted is not None:
            self._callbacks.setdefault((channel, callback), []).append(adapted)

    @mirrors(AsyncPushClient.unsubscribe)
    def unsubscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        if callback is None:
            for key in [key for key in self._callbacks if key[0] == channel]:
                del self._callbacks[key]
            self._portal.call(self._client.unsubscribe(channel))
            return
        for adapted in self._callbacks.pop((channel, callback), []):
            self._portal.call(self._client.unsubscribe(channel, adapted))

    @mirrors(AsyncPushClient.publish)
    def publish(
        self, channel: str, data: Any, *, id: str | None = None, echo: bool = False
    ) -> PublishReceipt:
        return self._portal.call(self._client.publish(channel, data, id=id, echo=echo))

    @mirrors(AsyncPushClient.create_channel)
    def create_channel(self, channel: str, metadata: dict[str, Any] | None = None) -> None:
        self._portal.call(self._client.create_channel(channel, metadata))

    @mirrors(AsyncPushClient.list_channels)
    def list_channels(self) -> list[str]:
        return self._portal.call(self._client.list_channels())

    @mirrors(AsyncPushClient.history)
    def history(
        self,
        channel: str,
        *,
        since: ChannelMessage | Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[ChannelMessage]:
        return self._portal.call(self._client.history(channel, since=since, limit=limit))

    @mirrors(AsyncPushClient.wait_for)
    def wait_for(self, channel: str, timeout: float | None = 30.0) -> ChannelMessage:
        return SyncChannelMessage.of(
            self._portal.call(self._client.wait_for(channel, timeout)), self
        )

    def messages(
        self, channel: str, *, maxsize: int = 1000, timeout: float | None = None
    ) -> MessageIterator:
        """``for msg in client.messages(channel)``: subscribes now, yields as messages arrive.

        Buffers at most ``maxsize`` messages for a slow loop body, dropping the
        oldest (with a warning) beyond that. Refused inside a callback.

        Args:
            channel: The channel to follow (it stays subscribed).
            maxsize: The most messages buffered.
            timeout: End the iteration once no message arrived for this many
                seconds (``None``: iterate until the client closes).
        """
        self._refuse_in_callback("messages()")

        async def open_stream() -> MessageStream:
            stream = self._client.messages(channel, maxsize=maxsize)
            try:
                await stream.start()
            except BaseException:
                await stream.aclose()
                raise
            return stream

        stream = self._portal.call(open_stream())
        return MessageIterator(
            self._portal, stream, timeout, lambda m: SyncChannelMessage.of(m, self)
        )

    # --- acknowledgements -------------------------------------------------------------

    @mirrors(AsyncPushClient.ack)
    def ack(self, message: ChannelMessage | str) -> bool:
        return self._portal.call(self._client.ack(message))

    @mirrors(AsyncPushClient.nack)
    def nack(self, message: ChannelMessage | str, reason: str = "") -> bool:
        return self._portal.call(self._client.nack(message, reason))

    # --- presence ------------------------------------------------------------------

    @mirrors(AsyncPushClient.set_status)
    def set_status(self, status: str = "online", metadata: dict[str, Any] | None = None) -> None:
        self._portal.call(self._client.set_status(status, metadata))

    @mirrors(AsyncPushClient.get_presence)
    def get_presence(self, channel: str | None = None) -> PresenceSnapshot:
        return self._portal.call(self._client.get_presence(channel))

    # --- agent runs ----------------------------------------------------------------

    def execute(self, agent_id: str, input: str, *, session_id: str | None = None) -> SyncExecution:
        """Start a run of agent ``agent_id``; returns its live handle once the gateway accepted it.

        ``for event in run`` streams the events, ``run.result()`` blocks for
        the answer. Otherwise as ``AsyncPushClient.execute``: the run belongs
        to the gateway, and ``execute`` is never sent twice.

        Raises:
            RequestRefused: ``unknown_agent``, or ``invalid_field`` (e.g. an empty input).
            TransportError: The connection dropped before the gateway answered.
            TimeoutError: No reply within ``request_timeout``.
        """
        execution = self._portal.call(self._client.execute(agent_id, input, session_id=session_id))
        return self._handle(execution)

    @mirrors(AsyncPushClient.attach)
    def attach(self, execution_id: str) -> SyncExecution:
        return self._handle(self._portal.call(self._client.attach(execution_id)))

    @mirrors(AsyncPushClient.approve)
    def approve(
        self,
        execution_id: str,
        tool_call_id: str,
        approved: bool,
        reason: str | None = None,
    ) -> bool:
        return self._portal.call(self._client.approve(execution_id, tool_call_id, approved, reason))

    # --- internals -----------------------------------------------------------------

    def _handle(self, execution: Execution) -> SyncExecution:
        """The blocking handle of ``execution``: the same one while the caller keeps it."""
        handle = self._runs.get(execution.channel)
        if handle is None or handle.async_execution is not execution:
            handle = self.execution_class(self._portal, execution, self._adapt)
            self._runs[execution.channel] = handle
        return handle

    def _adapt(self, callback: Callable[..., Any]) -> Handler:
        """The handler the async client runs for a callback given to the blocking face.

        Plain functions are handed to the worker thread and awaited there, so
        ordering and acknowledge-after-handling hold while the shared loop
        stays free. Coroutine functions run on the portal loop as they are.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if inspect.iscoroutinefunction(callback):
            return callback
        worker = self._worker

        async def on_worker(argument: Any) -> None:
            await asyncio.wrap_future(worker.submit(callback, blocking(argument, self)))

        on_worker.__qualname__ = getattr(callback, "__qualname__", repr(callback))
        return on_worker

    def _refuse_in_callback(self, what: str) -> None:
        if self._worker.in_worker():
            raise RuntimeError(
                f"{what} cannot be called from one of this client's callbacks: it would "
                "wait for the callback itself"
            )


class MessageIterator:
    """Blocking iterator over a channel's messages (from ``PushClient.messages``)."""

    def __init__(
        self,
        portal: Portal,
        stream: MessageStream,
        timeout: float | None,
        hand_out: Callable[[ChannelMessage], ChannelMessage] = lambda message: message,
    ) -> None:
        self._portal = portal
        self._stream = stream
        self._timeout = timeout
        self._hand_out = hand_out
        self._closed = False

    def __repr__(self) -> str:
        return f"<MessageIterator {self._stream.channel!r}>"

    def __iter__(self) -> Iterator[ChannelMessage]:
        return self

    def __next__(self) -> ChannelMessage:
        if self._closed:
            raise StopIteration
        try:
            return self._hand_out(self._portal.call(self._stream.get(self._timeout)))
        except (StopAsyncIteration, asyncio.TimeoutError):
            self.close()
            raise StopIteration from None

    def close(self) -> None:
        """Stop receiving into this iterator (the channel stays subscribed)."""
        if not self._closed:
            self._closed = True
            self._portal.call(self._stream.aclose())

    def __enter__(self) -> MessageIterator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
