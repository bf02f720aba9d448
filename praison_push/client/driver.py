"""The session driver: the client's parts put together, and the sans-I/O session run over I/O.

:class:`SessionDriver` builds one client's parts — the connection supervisor,
the request layer, the session state, the handler dispatcher and the run
registry — and is the glue between them, as python-websockets' connection
drives its sans-I/O protocol:

* every frame read goes to :meth:`ClientSession.receive`, and the driver
  carries out its decisions: replies to their requests, messages to the run
  they belong to, to ``wait_for`` waiters and (through the dispatcher) to
  callbacks, streams and handlers; pings answered;
* on every new connection it restores the session: requests re-sent,
  subscriptions renewed with ``since``, the presence status re-sent, owed
  acknowledgements flushed;
* it acknowledges handled messages (``auto_ack``) in batches, at most
  :data:`~.session.MAX_ACK_BATCH` ids per frame and
  :data:`~.session.ACK_INTERVAL` after the oldest was handled, and sends the
  acknowledgements users make themselves (``ChannelMessage.ack()``);
* when the client closes for good it fails whatever still waits and lets the
  dispatcher drain what was already queued.

The public verbs live in :mod:`.client`; this module has none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from praison_push.protocol import (
    Backoff,
    ConnectionClosedError,
    FrameError,
    PushError,
    RequestRefused,
    TransportError,
)
from praison_push.protocol.frames import MAX_REASON_LENGTH

from .connection import Connection, ConnectionHooks, ConnectionState
from .dispatch import Dispatcher, Handler
from .execution import RunControls
from .fallback import transport_kind
from .requests import Requester
from .runs import RunRegistry
from .session import ClientSession, Emit, HistoryLost, Received, Reply, Send
from .streams import MessageStream
from .transport import TransportFactory
from .values import ChannelMessage

__all__ = ["SessionDriver"]

logger = logging.getLogger("praison_push.client")

#: States in which the client may still reach the gateway.
_ALIVE = (ConnectionState.OPEN, ConnectionState.RECONNECTING)


class SessionDriver:
    """One client's connection, requests, session, dispatcher and runs, wired together.

    Args: as :class:`~praison_push.client.AsyncPushClient`'s, already checked.

    Attributes:
        connection: The connection supervisor.
        requests: The request layer.
        session: The sans-I/O session state.
        dispatcher: Runs user handlers in order.
        runs: The watched agent runs.
    """

    def __init__(
        self,
        url: str,
        auth_token: str | None,
        client_id: str,
        *,
        factory: TransportFactory,
        auto_reconnect: bool,
        request_timeout: float,
        backoff: Backoff,
        max_reconnect_attempts: int | None,
        auto_ack: bool = True,
        max_queued_messages: int = 10_000,
    ) -> None:
        self._request_timeout = request_timeout
        self._max_queued = max_queued_messages
        #: Messages were dropped for want of room: resubscribe once the handlers caught up.
        self._behind = False
        self.auto_ack = auto_ack
        self._ack_timer: asyncio.TimerHandle | None = None
        hooks = ConnectionHooks(
            connecting=self._connecting,
            opened=self._opened,
            frame=self._on_frame,
            restore=self._restore,
            heartbeat=self._heartbeat,
            lost=self._lost,
            reconnecting=self._reconnecting,
            closed=self._closed,
        )
        self.connection = Connection(
            url,
            auth_token,
            client_id,
            factory=factory,
            hooks=hooks,
            auto_reconnect=auto_reconnect,
            open_timeout=request_timeout,
            backoff=backoff,
            max_reconnect_attempts=max_reconnect_attempts,
        )
        self.requests = Requester(self.connection, request_timeout)
        self.session = ClientSession(acker=self)
        self.dispatcher = Dispatcher(
            on_delivered=self._delivered, on_flush=self._flush_due, on_failed=self.session.failed
        )
        controls = RunControls(self._cancel_run, self._loop, request_timeout, self.approve_run)
        self.runs = RunRegistry(self.session, self.requests.request, controls, self._run_ended)
        self._waiters: dict[str, list[asyncio.Future[ChannelMessage]]] = {}
        self._streams: set[MessageStream] = set()
        #: The kind of the transport last opened (``None`` before the first).
        self.transport: str | None = None

    def __repr__(self) -> str:
        return f"<SessionDriver {self.connection!r}>"

    # --- subscriptions, waiters and streams (for the client's verbs) -------------------------

    async def subscribe(self, channel: str, callback: Handler | None) -> None:
        """Subscribe ``channel`` unless subscribed; add ``callback`` either way."""
        if callback is not None:
            # Registered before the request, so messages replayed right after
            # the reply cannot slip past it.
            self.dispatcher.add_callback(channel, callback)
        frame = self.session.subscribe(channel)
        if frame is None:
            return
        try:
            await self.requests.request(frame)
        except BaseException:
            if callback is not None:
                self.dispatcher.remove_callback(channel, callback)
            raise
        self.session.subscribed(channel)

    async def unsubscribe(self, channel: str) -> None:
        """Forget ``channel``, fail its waiters, end its streams, then tell the gateway."""
        frame = self.session.unsubscribe(channel)
        self.dispatcher.clear_callbacks(channel)
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_exception(
                    PushError(f"unsubscribed from {channel!r} while wait_for() waited on it")
                )
        for stream in [s for s in self._streams if s.channel == channel]:
            self._detach_stream(stream)
            stream.end()
        await self.requests.request(frame)

    async def next_message(self, channel: str, timeout: float | None) -> ChannelMessage:
        """The next message on ``channel``, subscribing first if needed (``wait_for``)."""
        waiter: asyncio.Future[ChannelMessage] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(channel, [])
        waiters.append(waiter)

        async def subscribe_and_wait() -> ChannelMessage:
            # Not when unsubscribe() already failed the waiter: it meant to leave.
            if not waiter.done() and channel not in self.session.subscriptions:
                await self.subscribe(channel, None)
            return await waiter

        try:
            return await asyncio.wait_for(subscribe_and_wait(), timeout)
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

    def open_stream(self, channel: str, maxsize: int) -> MessageStream:
        """A :class:`MessageStream` fed from now on with ``channel``'s messages."""
        subscribe = self.subscribe
        stream = MessageStream(
            channel, maxsize, subscribe=lambda c: subscribe(c, None), detach=self._detach_stream
        )
        self._streams.add(stream)
        self.dispatcher.add_callback(channel, stream.push)
        return stream

    def _detach_stream(self, stream: MessageStream) -> None:
        self._streams.discard(stream)
        self.dispatcher.remove_callback(stream.channel, stream.push)

    # --- runs ------------------------------------------------------------------------------

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        return self.connection.loop

    async def _cancel_run(self, execution_id: str) -> bool:
        frame = {"type": "execution.cancel", "execution_id": execution_id}
        return (await self.requests.request(frame)).get("ok") is True

    async def approve_run(
        self, execution_id: str, tool_call_id: str, approved: bool, reason: str | None
    ) -> bool:
        """Answer a run's approval request; ``True`` when it answered a waiting one."""
        frame: dict[str, Any] = {
            "type": "execution.approve",
            "execution_id": execution_id,
            "tool_call_id": tool_call_id,
            "approved": approved,
        }
        if reason is not None:
            frame["reason"] = reason
        return (await self.requests.request(frame)).get("ok") is True

    def _run_ended(self, channel: str) -> None:
        """A run's terminal event arrived: drop the subscription held for it.

        Called from the receive loop; the unsubscribe goes out in the background.
        The subscription stays when the user subscribed to the channel as well.
        """
        if self.dispatcher.has_callbacks(channel) or not self.session.release_run(channel):
            return
        if self.connection.state in _ALIVE:
            self.connection.background(self._unsubscribe_quietly(channel))

    async def _unsubscribe_quietly(self, channel: str) -> None:
        try:
            await self.requests.request({"type": "channel.unsubscribe", "channel": channel})
        except (PushError, asyncio.TimeoutError) as exc:
            logger.debug("unsubscribing from finished run %r failed: %s", channel, exc)

    # --- connection hooks ------------------------------------------------------------------

    def _connecting(self) -> None:
        self.dispatcher.start()

    def _opened(self, greeting: dict[str, Any]) -> None:
        kind = transport_kind(self.connection.transport)
        previous, self.transport = self.transport, kind
        if previous is not None and previous != kind:
            logger.info("transport changed from %s to %s", previous, kind)
            self.dispatcher.post_event(
                "transport_changed", {"transport": kind, "previous": previous}
            )
        self.dispatcher.post_event("connected", greeting)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        """Carry out what the session decided for one frame (in the receive loop)."""
        if frame.get("type") == "channel_message" and (
            self._behind or self.dispatcher.queued >= self._max_queued
        ):
            self._fall_behind()
            # A handler awaiting wait_for() or a run's result must not wait for its own
            # queue to drain: they get it now (a run's record drops the replayed copy).
            message = ChannelMessage.from_event_dict(frame, self)
            self.runs.route(message)
            self._wake(message)
            return  # not received: the position stays, the recovery brings it back
        for action in self.session.receive(frame):
            if isinstance(action, Received):
                self._on_message(action.message, action.duplicate, action.run_only)
            elif isinstance(action, Reply):
                reply = action.frame
                if not self.requests.resolve(reply) and reply.get("type") == "error":
                    logger.warning("gateway error %s: %s", reply.get("code"), reply.get("message"))
            elif isinstance(action, Emit):
                self.dispatcher.post_event(action.event, action.payload)
            elif isinstance(action, Send):
                self.connection.send_soon(action.frame)
            elif isinstance(action, HistoryLost):
                self.runs.history_lost(action.channel, emptied=action.emptied)

    def _on_message(self, message: ChannelMessage, duplicate: bool, run_only: bool) -> None:
        # Before the client-wide check: a run attached again after it was
        # watched once is replayed with event ids this client saw already.
        self.runs.route(message)
        if duplicate:
            # A redelivery: handlers saw it already, but the gateway needs the ack again.
            logger.debug("dropping duplicate %s on %r", message.event_id, message.channel)
            self.dispatcher.post_ack(message.event_id)
            return
        self._wake(message)
        if run_only and message.event_id:
            # Followed only for a run: its events reach the run handle, not every
            # ``channel_message`` handler; acknowledged all the same.
            self.dispatcher.post_ack(message.event_id)
            return
        self.dispatcher.post_message(message)

    def _fall_behind(self) -> None:
        """The handlers' queue is full: drop the connection, recover when they caught up.

        Reading on (and queueing without bound) would grow without limit; not reading
        would stall the replies a handler may be waiting for. So messages past the
        bound are dropped, the connection too, and the next one resubscribes from the
        last position queued — once the queue is down to half the bound.
        """
        if self._behind:
            return
        self._behind = True
        logger.warning(
            "handlers are %d messages behind (max_queued_messages): reconnecting to "
            "recover the rest from history once they catch up",
            self.dispatcher.queued,
        )
        self.connection.drop("handler queue full")

    def _wake(self, message: ChannelMessage) -> None:
        """Hand ``message`` to the ``wait_for`` calls waiting on its channel."""
        for waiter in self._waiters.get(message.channel, ()):
            if not waiter.done():
                waiter.set_result(message)

    async def _restore(self, generation: int) -> None:
        """On a new connection: re-send what the old one did not answer, then resubscribe
        (once the handlers caught up, if they fell behind)."""
        await self.requests.resend(generation)
        if self._behind:
            await self.dispatcher.wait_room(self._max_queued // 2)
            self._behind = False
        channels = sorted(self.session.subscriptions)
        if channels:
            await asyncio.gather(*(self._resubscribe(channel) for channel in channels))
        if self.session.status is not None:
            await self._send_status()
        await self._flush()

    async def _resubscribe(self, channel: str) -> None:
        try:
            await self.requests.request(await self.runs.resubscribe_frame(channel))
        except RequestRefused as exc:
            logger.warning("resubscribing to %r was refused (%s); dropping it", channel, exc)
            self.session.refused(channel)
        except (FrameError, TransportError, asyncio.TimeoutError) as exc:
            logger.warning("resubscribing to %r failed: %s", channel, exc)

    async def _heartbeat(self) -> None:
        """Re-send the status set with ``set_status`` (every ``heartbeat_interval``)."""
        if self.session.status is not None:
            await self._send_status()

    async def _send_status(self) -> None:
        status = self.session.status
        if status is None:  # pragma: no cover - callers check first
            return
        try:
            await self.requests.request(dict(status))
        except (PushError, asyncio.TimeoutError) as exc:
            logger.debug("presence heartbeat failed: %s", exc)

    # --- acknowledgements --------------------------------------------------------------------

    async def ack(self, message: ChannelMessage | str) -> bool:
        """Acknowledge one message now; whether the gateway was tracking it."""
        frame = {"type": "message_ack", "event_id": _event_id(message)}
        return (await self.requests.request(frame)).get("ok") is True

    async def nack(self, message: ChannelMessage | str, reason: str = "") -> bool:
        """Send one message to ``$dead-letter`` now; whether the gateway was tracking it."""
        if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
            raise ValueError(f"reason must be a str of at most {MAX_REASON_LENGTH} characters")
        frame: dict[str, Any] = {"type": "message_nack", "event_id": _event_id(message)}
        if reason:
            frame["reason"] = reason
        return (await self.requests.request(frame)).get("ok") is True

    def _delivered(self, event_id: str) -> None:
        """Handlers returned without raising: owe the acknowledgement (``auto_ack``)."""
        if not self.auto_ack:
            return
        loop = asyncio.get_running_loop()
        if self.session.delivered(event_id, loop.time()):
            self._send_acks_soon()
        elif self._ack_timer is None:
            self._ack_timer = loop.call_at(
                self.session.ack_deadline or loop.time(), self._send_acks_soon
            )

    def _send_acks_soon(self) -> None:
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self.connection.is_open:
            self.connection.background(self._flush())

    async def acknowledge_handled(self) -> None:
        """Send the owed acknowledgements now (before a goodbye), without waiting for the batch."""
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        await self._flush()

    async def _flush_due(self) -> None:
        """The dispatcher ran dry (or handled a run of messages): send what is due."""
        if self.session.ack_due(asyncio.get_running_loop().time()):
            await self._flush()

    async def _flush(self) -> None:
        """Send every owed acknowledgement (what cannot be sent waits for the next connection)."""
        while self.connection.is_open and (frame := self.session.next_ack()) is not None:
            try:
                await self.connection.send(frame)
            except TransportError:
                # Kept, first, for the next connection.
                self.session.ack_not_sent(frame, asyncio.get_running_loop().time())
                return

    def _lost(self, generation: int, code: int | None, reason: str) -> None:
        self.requests.connection_lost(generation, code, reason)
        self.dispatcher.post_event("disconnected", {"code": code, "reason": reason})

    def _reconnecting(self, attempt: int, delay: float) -> None:
        self.dispatcher.post_event("reconnecting", {"attempt": attempt, "delay": delay})

    def _closed(self, code: int | None, reason: str) -> None:
        """Closed for good: fail what waits, end streams, let the dispatcher drain."""
        self.requests.close(code, reason)
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionClosedError(code, reason))
        # Streams end once the dispatcher drained what was queued for them.
        streams = tuple(self._streams)
        self._streams.clear()
        self.runs.close(ConnectionClosedError(code, reason))
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        self.session.reset()  # a later connect() starts from the live edge
        # The draining dispatcher keeps this session's channel callbacks.
        self.dispatcher.stop(lambda: _end_streams(streams))


def _event_id(message: ChannelMessage | str) -> str:
    event_id = message.event_id if isinstance(message, ChannelMessage) else message
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"cannot acknowledge {message!r}: it has no event_id")
    return event_id


def _end_streams(streams: tuple[MessageStream, ...]) -> None:
    for stream in streams:
        stream.end()
