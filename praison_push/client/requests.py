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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from praison_push.protocol import RequestRefused

__all__ = ["PendingRequest", "ReplyHook", "RequestTracker"]

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
