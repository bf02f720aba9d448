"""Request/reply correlation by ``ref``, across reconnects (PROTOCOL.md §2 ``ref``★).

Every request carries an integer ``ref`` that the gateway echoes in its reply,
so replies may arrive in any order and interleaved with publications. A request
also remembers on which connection (``generation``) it was last sent: after a
reconnect the client re-sends every request the new connection has not seen.
That is safe for requests that are idempotent (a publish carries an ``id`` the
gateway de-duplicates by). One that is not — ``execute`` starts a run each
time — is opened with ``resend=False``: if the connection drops after it was
sent, it fails instead (:meth:`RequestTracker.fail_sent`), as the gateway may
or may not have acted on it.

A request may also carry an ``on_reply`` hook, run synchronously in the
receive loop as its reply is matched. Frames that follow a reply (a run's
events after ``execute.accepted``) can then be routed before the coroutine
awaiting the reply gets to run again.

:class:`Requester` is the layer the client's verbs call: it stamps, sends,
times out and re-sends requests over the :class:`~.connection.Connection`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from praison_push.protocol import (
    CloseCode,
    ConnectionClosedError,
    NotConnectedError,
    RequestRefused,
    TransportError,
)

from .connection import Connection, ConnectionState

__all__ = ["PendingRequest", "ReplyHook", "RequestTracker", "Requester", "refusal"]

logger = logging.getLogger("praison_push.client")

#: Runs in the receive loop as a reply is matched; what it raises fails the request.
ReplyHook = Callable[[dict[str, Any]], None]

#: Fields of an ``error`` frame that are not extra details.
_ERROR_FIELDS = frozenset({"type", "code", "message", "details", "ref"})


class PendingRequest:
    """A request awaiting its reply.

    Attributes:
        frame: The frame as sent, ``ref`` included.
        future: Resolved with the reply frame, or failed with the error.
        generation: The connection it was last sent on (``None``: not sent yet).
        on_reply: Called with the (non-error) reply before ``future`` resolves.
        resend: Whether it may be sent again on a new connection after being sent.
    """

    __slots__ = ("frame", "future", "generation", "on_reply", "resend")

    def __init__(
        self,
        frame: dict[str, Any],
        future: asyncio.Future[dict[str, Any]],
        *,
        on_reply: ReplyHook | None = None,
        resend: bool = True,
    ) -> None:
        self.frame = frame
        self.future = future
        self.generation: int | None = None
        self.on_reply = on_reply
        self.resend = resend

    @property
    def ref(self) -> int:
        """The correlation key."""
        ref: int = self.frame["ref"]
        return ref

    @property
    def kind(self) -> str:
        """The request's frame type, for messages."""
        return str(self.frame.get("type"))


class RequestTracker:
    """Hands out refs and matches replies to the requests awaiting them."""

    def __init__(self) -> None:
        self._last_ref = 0
        self._pending: dict[int, PendingRequest] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def open(
        self, frame: dict[str, Any], *, on_reply: ReplyHook | None = None, resend: bool = True
    ) -> PendingRequest:
        """Stamp ``frame`` with a fresh ``ref`` and start awaiting its reply."""
        self._last_ref += 1
        frame["ref"] = self._last_ref
        request = PendingRequest(
            frame, asyncio.get_running_loop().create_future(), on_reply=on_reply, resend=resend
        )
        self._pending[self._last_ref] = request
        return request

    def close(self, request: PendingRequest) -> None:
        """Stop awaiting ``request`` (its caller has the result, gave up or was cancelled)."""
        self._pending.pop(request.ref, None)

    def resolve(self, frame: dict[str, Any]) -> bool:
        """Deliver a reply to the request whose ``ref`` it echoes.

        An ``error`` reply fails the request with :class:`RequestRefused`.

        Returns:
            Whether a waiting request took the frame (late replies, to requests
            that timed out, are not taken).
        """
        ref = frame.get("ref")
        if not isinstance(ref, int):
            return False
        request = self._pending.get(ref)
        if request is None or request.future.done():
            return False
        if frame.get("type") == "error":
            request.future.set_exception(refusal(frame))
            return True
        if request.on_reply is not None:
            try:
                request.on_reply(frame)
            except Exception as exc:
                request.future.set_exception(exc)
                return True
        request.future.set_result(frame)
        return True

    def unsent(self, generation: int) -> Iterator[PendingRequest]:
        """Requests still waiting that connection ``generation`` has not seen, oldest first."""
        for request in list(self._pending.values()):
            if request.generation != generation and not request.future.done():
                yield request

    def fail_sent(self, generation: int, error: Callable[[PendingRequest], BaseException]) -> None:
        """Fail the waiting requests that must not be re-sent and went out on ``generation``.

        Called when that connection drops: the gateway may have acted on them,
        so sending them again could do the work twice.
        """
        for request in self._pending.values():
            if (
                not request.resend
                and request.generation == generation
                and not request.future.done()
            ):
                request.future.set_exception(error(request))

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        """Fail every waiting request with a fresh ``error()`` (the client closed for good)."""
        for request in self._pending.values():
            if not request.future.done():
                request.future.set_exception(error())


def refusal(frame: dict[str, Any]) -> RequestRefused:
    """The :class:`RequestRefused` for an ``error`` frame; extra top-level fields become details."""
    details = frame.get("details")
    merged: dict[str, Any] = dict(details) if isinstance(details, dict) else {}
    for key, value in frame.items():
        if key not in _ERROR_FIELDS:
            merged.setdefault(key, value)
    return RequestRefused(str(frame.get("code", "unknown")), str(frame.get("message", "")), merged)


class Requester:
    """Sends requests on a :class:`~.connection.Connection` and waits for their replies.

    A request made while reconnecting is sent once the new connection is up;
    one in flight when the connection dropped is sent again (publishes carry
    an ``id``, so the gateway drops the duplicate) unless opened with
    ``resend=False``. Either way it waits at most ``timeout`` seconds.

    Args:
        connection: Where requests go.
        timeout: Seconds a request waits for its reply (and, while
            reconnecting, for a connection).
    """

    def __init__(self, connection: Connection, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self._tracker = RequestTracker()

    def __repr__(self) -> str:
        return f"<Requester {len(self._tracker)} pending>"

    async def request(
        self, frame: dict[str, Any], *, on_reply: ReplyHook | None = None, resend: bool = True
    ) -> dict[str, Any]:
        """Send ``frame`` with a fresh ``ref`` and return the reply echoing it.

        ``on_reply`` runs in the receive loop as the reply is matched;
        ``resend=False`` keeps the request from being sent again after a reconnect.

        Raises:
            NotConnectedError: The client is not connected (or closed), or no
                connection came back within the timeout.
            RequestRefused: The gateway answered with an ``error`` frame.
            TimeoutError: No reply within the timeout.
            TransportError: A ``resend=False`` request was cut off in flight.
            ConnectionClosedError: The client closed for good meanwhile.
        """
        if self._connection.state in (ConnectionState.IDLE, ConnectionState.CLOSED):
            raise NotConnectedError(self._connection.why_not_connected())
        request = self._tracker.open(frame, on_reply=on_reply, resend=resend)
        timer = asyncio.get_running_loop().call_later(self._timeout, self._expire, request)
        try:
            if self._connection.is_open:
                await self._send(request)
            return await request.future
        finally:
            timer.cancel()
            self._tracker.close(request)

    def resolve(self, frame: dict[str, Any]) -> bool:
        """Deliver a reply to its request; whether one took it (:meth:`RequestTracker.resolve`)."""
        return self._tracker.resolve(frame)

    async def resend(self, generation: int) -> None:
        """On connection ``generation``: send what it has not seen, oldest first."""
        for request in self._tracker.unsent(generation):
            await self._send(request)

    def connection_lost(self, generation: int, code: int | None = None, reason: str = "") -> None:
        """Fail what must not be sent twice and went out on the dropped connection."""
        if code == CloseCode.MESSAGE_TOO_BIG:
            why = f"the gateway closed the connection: message too large (1009 {reason})".strip()
        else:
            why = "the connection dropped before the gateway answered"
        self._tracker.fail_sent(
            generation,
            lambda request: TransportError(
                f"{request.kind}: {why}; not sent again, as the gateway may already have "
                "acted on it"
            ),
        )

    def close(self, code: int | None, reason: str) -> None:
        """Fail every waiting request: the client closed for good."""
        self._tracker.fail_all(lambda: ConnectionClosedError(code, reason))

    def _expire(self, request: PendingRequest) -> None:
        if request.future.done():
            return
        if self._connection.is_open:
            error: Exception = asyncio.TimeoutError(
                f"no reply to {request.kind} within {self._timeout}s"
            )
        else:
            message = (
                f"{request.kind} not answered: no connection to the gateway within {self._timeout}s"
            )
            if request.generation is not None and request.kind == "channel.publish":
                # It went out before the drop: the gateway may have published it.
                message += (
                    f"; it may have been published already - publish again with "
                    f"id={request.frame.get('id')!r} to publish it at most once"
                )
            error = NotConnectedError(message)
        request.future.set_exception(error)

    async def _send(self, request: PendingRequest) -> None:
        """Send on the open connection; a failed send is retried after the reconnect."""
        if not self._connection.is_open:
            return
        request.generation = self._connection.generation
        try:
            await self._connection.send(request.frame)
        except (TypeError, ValueError) as exc:
            if not request.future.done():
                error = TypeError(f"{request.kind}: data and metadata must be JSON-serialisable")
                error.__cause__ = exc
                request.future.set_exception(error)
        except TransportError as exc:
            logger.debug("%s not sent (%s); it is re-sent after reconnecting", request.kind, exc)
