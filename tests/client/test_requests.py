"""Request correlation in isolation: refs, refusals, re-send bookkeeping."""

from __future__ import annotations

import asyncio

import pytest

from praison_push.client import RequestRefused
from praison_push.client.requests import RequestTracker, refusal


async def test_refs_increase_and_replies_resolve_by_ref() -> None:
    tracker = RequestTracker()
    first = tracker.open({"type": "channel.list"})
    second = tracker.open({"type": "ping"})
    assert (first.ref, second.ref) == (1, 2)
    assert first.kind == "channel.list"
    assert len(tracker) == 2
    assert tracker.resolve({"type": "pong", "ref": 2})
    assert second.future.result() == {"type": "pong", "ref": 2}
    assert not tracker.resolve({"type": "pong", "ref": 2})  # already answered
    assert not tracker.resolve({"type": "pong", "ref": "2"})  # not ours
    assert not tracker.resolve({"type": "pong", "ref": 99})
    tracker.close(second)
    tracker.close(second)
    assert len(tracker) == 1


async def test_unsent_lists_requests_the_connection_has_not_seen() -> None:
    tracker = RequestTracker()
    old, fresh, current = (tracker.open({"type": "t"}) for _ in range(3))
    old.generation, current.generation = 1, 2
    assert list(tracker.unsent(2)) == [old, fresh]
    old.future.cancel()
    assert list(tracker.unsent(2)) == [fresh]


async def test_fail_all_gives_each_request_its_own_error() -> None:
    tracker = RequestTracker()
    requests = [tracker.open({"type": "t"}) for _ in range(2)]
    tracker.fail_all(lambda: ConnectionError("gone"))
    errors = [r.future.exception() for r in requests]
    assert all(isinstance(e, ConnectionError) for e in errors)
    assert errors[0] is not errors[1]


def test_refusal_merges_extra_fields_into_details() -> None:
    error = refusal({"type": "error", "code": "x", "message": "m", "details": {"a": 1}, "b": 2})
    assert isinstance(error, RequestRefused)
    assert (error.code, error.message, error.details) == ("x", "m", {"a": 1, "b": 2})
    bare = refusal({"type": "error", "details": "junk"})
    assert (bare.code, bare.message, bare.details) == ("unknown", "", {})


async def test_error_reply_fails_the_future() -> None:
    tracker = RequestTracker()
    request = tracker.open({"type": "t"})
    tracker.resolve({"type": "error", "ref": request.ref, "code": "forbidden", "message": "no"})
    with pytest.raises(RequestRefused, match="forbidden"):
        await asyncio.wait_for(request.future, 1)


async def test_reply_hook_runs_before_the_future_resolves() -> None:
    tracker = RequestTracker()
    seen: list[tuple[dict[str, object], bool]] = []
    request = tracker.open(
        {"type": "execute"}, on_reply=lambda reply: seen.append((reply, request.future.done()))
    )
    tracker.resolve({"type": "execute.accepted", "ref": request.ref})
    assert seen == [({"type": "execute.accepted", "ref": request.ref}, False)]
    assert request.future.result()["type"] == "execute.accepted"


async def test_reply_hook_is_skipped_for_errors_and_its_exception_fails_the_request() -> None:
    tracker = RequestTracker()
    calls: list[object] = []
    refused = tracker.open({"type": "execute"}, on_reply=calls.append)
    tracker.resolve({"type": "error", "ref": refused.ref, "code": "unknown_agent"})
    assert calls == [] and isinstance(refused.future.exception(), RequestRefused)

    def explode(reply: object) -> None:
        raise ValueError("bad reply")

    broken = tracker.open({"type": "execute"}, on_reply=explode)
    assert tracker.resolve({"type": "execute.accepted", "ref": broken.ref})
    assert isinstance(broken.future.exception(), ValueError)


async def test_fail_sent_fails_only_unresendable_requests_sent_on_that_connection() -> None:
    tracker = RequestTracker()
    once = tracker.open({"type": "execute"}, resend=False)
    unsent_once = tracker.open({"type": "execute"}, resend=False)
    older_once = tracker.open({"type": "execute"}, resend=False)
    again = tracker.open({"type": "channel.publish"})
    once.generation, older_once.generation, again.generation = 3, 2, 3
    tracker.fail_sent(3, lambda request: ConnectionError(request.kind))
    assert isinstance(once.future.exception(), ConnectionError)
    assert not unsent_once.future.done() and not older_once.future.done()
    assert not again.future.done()
    tracker.fail_sent(3, lambda request: ConnectionError(request.kind))  # already failed: no-op
