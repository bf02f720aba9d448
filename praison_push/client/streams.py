"""``client.messages(channel)``: a channel's messages as an async iterator.

The stream is fed by a channel callback (so it sees exactly what handlers see:
in order, de-duplicated) into a bounded buffer. When the consumer falls more
than ``maxsize`` messages behind, the oldest are dropped and a warning is
logged — a stalled loop body must not grow memory without bound, nor stall the
dispatcher that every other handler of the client shares.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

from .values import ChannelMessage

__all__ = ["MessageStream"]

logger = logging.getLogger("praison_push.client")


class MessageStream:
    """Async iterator over one channel's messages (from ``AsyncPushClient.messages``).

    The client registers :meth:`push` as a channel callback when it creates the
    stream, so nothing arriving after that is missed; the ``channel.subscribe``
    request goes out on the first ``__anext__`` (or :meth:`start`, or ``async
    with``). Iteration ends when the stream is closed, the channel is
    unsubscribed or the client closes for good. Closing the stream does not
    unsubscribe the channel.

    Args:
        channel: The channel followed.
        maxsize: Most messages buffered for a slow consumer.
        subscribe: Subscribes the channel (the client's ``subscribe``).
        detach: Stops feeding this stream (called once, on :meth:`aclose`).
    """

    def __init__(
        self,
        channel: str,
        maxsize: int,
        *,
        subscribe: Callable[[str], Awaitable[None]],
        detach: Callable[[MessageStream], None],
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize!r}")
        self.channel = channel
        self._subscribe = subscribe
        self._detach = detach
        self._buffer: deque[ChannelMessage] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self._started = False
        self._ended = False
        self.dropped = 0

    def __repr__(self) -> str:
        state = "ended" if self._ended else f"{len(self._buffer)} buffered"
        return f"<MessageStream {self.channel!r} {state}>"

    def push(self, message: ChannelMessage) -> None:
        """Buffer one message (the channel callback); drops the oldest when full."""
        if self._ended:
            return
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "messages(%r): consumer is %d messages behind; dropped %d so far",
                    self.channel,
                    self._buffer.maxlen,
                    self.dropped,
                )
        self._buffer.append(message)
        self._ready.set()

    def end(self) -> None:
        """End iteration once the buffer is drained."""
        self._ended = True
        self._ready.set()

    async def start(self) -> None:
        """Subscribe to the channel (once); the client keeps the subscription."""
        if not self._started:
            await self._subscribe(self.channel)
            self._started = True

    async def get(self, timeout: float | None = None) -> ChannelMessage:
        """The next message; a cancelled or timed-out wait never loses one.

        Raises:
            StopAsyncIteration: The stream ended and its buffer is empty.
            TimeoutError: ``timeout`` seconds passed without a message.
        """
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._buffer:
            if self._ended:
                raise StopAsyncIteration
            self._ready.clear()
            if deadline is None:
                await self._ready.wait()
            else:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - loop.time()))
        return self._buffer.popleft()

    def __aiter__(self) -> MessageStream:
        return self

    async def __anext__(self) -> ChannelMessage:
        return await self.get()

    async def aclose(self) -> None:
        """Stop receiving into this stream (the channel stays subscribed)."""
        self._detach(self)
        self.end()

    async def __aenter__(self) -> MessageStream:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
