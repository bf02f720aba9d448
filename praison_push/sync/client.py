"""The blocking ``PushClient``: the async client's verbs, for code that does not ``await``.

No protocol logic lives here. Each method ships the matching
:class:`~praison_push.client.AsyncPushClient` coroutine to the shared portal
loop (:mod:`.portal`) and blocks until it is done, so both faces behave the
same by construction. Callbacks registered here are plain functions; they run
on this client's :class:`~.worker.CallbackWorker` thread, in order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar, overload

from praison_push.client import (
    AsyncPushClient,
    Backoff,
    ChannelMessage,
    Handler,
    MessageStream,
    PresenceSnapshot,
    PublishReceipt,
    TransportFactory,
)

from .execution import SyncExecution
from .portal import Portal, get_portal
from .worker import CallbackWorker

__all__ = ["MessageIterator", "PushClient"]

F = TypeVar("F", bound=Callable[..., Any])


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
    ) -> None:
        self._portal: Portal = get_portal()

        async def build() -> AsyncPushClient:
            # Built on the portal loop, where all of its coroutines will run.
            return AsyncPushClient(
                url,
                auth_token,
                client_id,
                auto_reconnect,
                fallback_to_polling,
                transport_factory=transport_factory,
                request_timeout=request_timeout,
                backoff=backoff,
                max_reconnect_attempts=max_reconnect_attempts,
            )

        self._client = self._portal.call(build())
        self._worker = CallbackWorker(f"praison-push-callbacks-{self._client.client_id[:8]}")
        self._reaper: concurrent.futures.Future[None] | None = None
        self._handlers: dict[tuple[str, Callable[..., Any]], Handler] = {}
        #: What ``subscribe(channel, callback)`` registered, so one callback can be removed.
        self._callbacks: dict[tuple[str, Callable[..., Any]], list[Handler]] = {}

    def __repr__(self) -> str:
        return repr(self._client).replace("<AsyncPushClient", "<PushClient", 1)

    @property
    def async_client(self) -> AsyncPushClient:
        """The async client underneath (its coroutines must run on the portal loop)."""
        return self._client

    @property
    def client_id(self) -> str:
        """This client's identity, stable across reconnects."""
        return self._client.client_id

    @property
    def is_connected(self) -> bool:
        """Whether a connection to the gateway is up right now."""
        return self._client.is_connected

    @property
    def closed(self) -> bool:
        """Whether the client closed for good (``disconnect()``, a terminal close).

        ``False`` before ``connect()`` and while reconnecting.
        """
        return self._client.closed

    @property
    def subscriptions(self) -> frozenset[str]:
        """Channels subscribed to."""
        return self._client.subscriptions

    # --- lifecycle -------------------------------------------------------------

    def connect(self) -> None:
        """Connect and wait for the gateway's greeting (see ``AsyncPushClient.connect``)."""
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
        """Close for good, after queued callbacks ran; from a callback, only start closing."""
        if self._worker.in_worker():
            self._portal.submit(self._client.disconnect())
            return
        self._portal.call(self._client.disconnect())
        self._worker.stop()

    def close(self) -> None:
        """Close for good: the conventional name of :meth:`disconnect`."""
        self.disconnect()

    def wait_closed(self, timeout: float | None = None) -> None:
        """Block until the client has closed for good.

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
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, handler: F) -> F: ...

    def on(self, event: str, handler: F | None = None) -> Callable[[F], F] | F:
        """Call ``handler`` for every ``event`` (on the callback thread).

        ``client.on("channel_message", handler)`` registers and returns
        ``handler``; without it, ``@client.on(event)`` is a decorator.
        Registering the same function for the same event again is a no-op.
        """

        def register(handler: F) -> F:
            if (event, handler) in self._handlers:
                return handler  # registered already: once is enough (and off() removes it)
            adapted = self._adapt(handler)
            self._portal.call(_run_sync(lambda: self._client.on(event)(adapted)))
            self._handlers[(event, handler)] = adapted
            return handler

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any]) -> bool:
        """Remove a handler added with :meth:`on`; tell whether it was registered."""
        adapted = self._handlers.pop((event, handler), None)
        if adapted is None:
            return False
        return bool(self._portal.call(_run_sync(lambda: self._client.off(event, adapted))))

    # --- channels ----------------------------------------------------------------

    def subscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        """Subscribe to ``channel``; ``callback`` gets each message (on the callback thread)."""
        adapted = None if callback is None else self._adapt(callback)
        self._portal.call(self._client.subscribe(channel, adapted))
        if callback is not None and adapted is not None:
            self._callbacks.setdefault((channel, callback), []).append(adapted)

    def unsubscribe(
        self, channel: str, callback: Callable[[ChannelMessage], Any] | None = None
    ) -> None:
        """Stop receiving ``channel``; with ``callback``, only forget that callback."""
        if callback is None:
            for key in [key for key in self._callbacks if key[0] == channel]:
                del self._callbacks[key]
            self._portal.call(self._client.unsubscribe(channel))
            return
        for adapted in self._callbacks.pop((channel, callback), []):
            self._portal.call(self._client.unsubscribe(channel, adapted))

    def publish(
        self, channel: str, data: Any, *, id: str | None = None, echo: bool = False
    ) -> PublishReceipt:
        """Publish ``data`` on ``channel``; returns the gateway's receipt.

        With ``echo=True`` this client also receives it, when subscribed.
        """
        return self._portal.call(self._client.publish(channel, data, id=id, echo=echo))

    def create_channel(self, channel: str, metadata: dict[str, Any] | None = None) -> None:
        """Create ``channel`` on the gateway."""
        self._portal.call(self._client.create_channel(channel, metadata))

    def list_channels(self) -> list[str]:
        """The channels the gateway knows."""
        return self._portal.call(self._client.list_channels())

    def history(
        self,
        channel: str,
        *,
        since: ChannelMessage | dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[ChannelMessage]:
        """Messages kept in ``channel``'s history, oldest first."""
        return self._portal.call(self._client.history(channel, since=since, limit=limit))

    def wait_for(self, channel: str, timeout: float | None = 30.0) -> ChannelMessage:
        """Block until the next message on ``channel`` (subscribing first if needed).

        Raises:
            TimeoutError: Nothing arrived within ``timeout`` seconds.
        """
        return self._portal.call(self._client.wait_for(channel, timeout))

    def messages(self, channel: str, timeout: float | None = None) -> MessageIterator:
        """``for msg in client.messages(channel)``: subscribes now, yields as messages arrive.

        Args:
            channel: The channel to follow (it stays subscribed).
            timeout: End the iteration once no message arrived for this many
                seconds (``None``: iterate until the client closes).
        """
        self._refuse_in_callback("messages()")

        async def open_stream() -> MessageStream:
            stream = self._client.messages(channel)
            try:
                await stream.start()
            except BaseException:
                await stream.aclose()
                raise
            return stream

        return MessageIterator(self._portal, self._portal.call(open_stream()), timeout)

    # --- presence ------------------------------------------------------------------

    def set_status(self, status: str = "online", metadata: dict[str, Any] | None = None) -> None:
        """Set this client's presence status."""
        self._portal.call(self._client.set_status(status, metadata))

    def get_presence(self, channel: str | None = None) -> PresenceSnapshot:
        """Who is connected (to ``channel``, or to the gateway)."""
        return self._portal.call(self._client.get_presence(channel))

    # --- agent runs ----------------------------------------------------------------

    def execute(self, agent_id: str, input: str, *, session_id: str | None = None) -> SyncExecution:
        """Start a run of agent ``agent_id``; returns its live handle once the gateway accepted it.

        See ``AsyncPushClient.execute``. ``for event in run`` streams the
        events, ``run.result()`` blocks for the answer.
        """
        execution = self._portal.call(self._client.execute(agent_id, input, session_id=session_id))
        return self.execution_class(self._portal, execution, self._adapt)

    def attach(self, execution_id: str) -> SyncExecution:
        """Watch a run started elsewhere, replayed from its first event.

        See ``AsyncPushClient.attach``.
        """
        execution = self._portal.call(self._client.attach(execution_id))
        return self.execution_class(self._portal, execution, self._adapt)

    # --- internals -----------------------------------------------------------------

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
            await asyncio.wrap_future(worker.submit(callback, argument))

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

    def __init__(self, portal: Portal, stream: MessageStream, timeout: float | None) -> None:
        self._portal = portal
        self._stream = stream
        self._timeout = timeout
        self._closed = False

    def __repr__(self) -> str:
        return f"<MessageIterator {self._stream.channel!r}>"

    def __iter__(self) -> Iterator[ChannelMessage]:
        return self

    def __next__(self) -> ChannelMessage:
        if self._closed:
            raise StopIteration
        try:
            return self._portal.call(self._stream.get(self._timeout))
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


async def _run_sync(fn: Callable[[], Any]) -> Any:
    """Run a plain call on the portal loop (registry changes stay on the loop's thread)."""
    return fn()
