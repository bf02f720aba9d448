"""The blocking face follows the async one: same verbs, same signatures, same docs.

Every public name of ``AsyncPushClient`` and ``Execution`` must exist on
``praison_push.sync.PushClient`` and ``SyncExecution`` with the same parameters
(names, kinds, defaults, annotations), the same return annotation once the
async types are mapped to their blocking twins, and the same docstring. Each
intended difference is listed below with its reason; a listed difference that
no longer exists fails too, so the lists stay true.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from praison_push.client import AsyncPushClient, Execution
from praison_push.sync import PushClient, SyncExecution

#: async dunder → its blocking twin.
TWIN_NAMES = {
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "aclose": "close",  # the conventional names: `await aclose()` / `close()`
}
#: async return annotation → what the blocking twin returns instead.
TWIN_TYPES = {
    "AsyncPushClient": "PushClient",
    "Execution": "SyncExecution",
    "ExecutionIterator": "SyncExecutionIterator",
    "MessageStream": "MessageIterator",
}

#: Names of the async face the blocking face leaves out, and why.
MISSING: dict[tuple[type, str], str] = {
    (AsyncPushClient, "loop"): (
        "the blocking face runs on the shared portal loop, which user code must not "
        "schedule work on; `async_client.loop` is there for the rare need"
    ),
    (Execution, "loop"): "as for PushClient.loop: the portal loop is not the caller's",
}

#: Names only the blocking face has, and why.
EXTRA: dict[tuple[type, str], str] = {
    (PushClient, "async_client"): "the async client underneath, for code that awaits",
    (PushClient, "execution_class"): "lets a subclass (the notebook client) choose its run handle",
    (SyncExecution, "async_execution"): "the async handle underneath, for code that awaits",
}

#: Verbs whose blocking signature differs: the parameters it adds, and why.
EXTRA_PARAMETERS: dict[tuple[type, str], tuple[tuple[str, ...], str]] = {
    (PushClient, "wait_closed"): (
        ("timeout",),
        "a blocked thread cannot be cancelled by its caller; async code uses asyncio.timeout",
    ),
    (PushClient, "messages"): (
        ("timeout",),
        "a blocking `for` loop needs an idle bound to end; async code bounds `stream.get()`",
    ),
}

#: Verbs whose blocking docstring is its own, and why.
OWN_DOCS: dict[tuple[type, str], str] = {
    (PushClient, "__doc__"): "the class documents the blocking face and its callback thread",
    (PushClient, "disconnect"): "inside a callback it only starts closing (waiting would deadlock)",
    (PushClient, "wait_closed"): "takes a timeout, and is refused inside a callback",
    (PushClient, "on"): "handlers run on the callback thread; registering twice is a no-op",
    (PushClient, "subscribe"): "callbacks run on the callback thread",
    (PushClient, "messages"): "a blocking iterator with an idle timeout, refused in a callback",
    (PushClient, "execute"): "the handle is iterated and waited on without await",
    (SyncExecution, "__doc__"): "the class documents the blocking handle",
    (SyncExecution, "result"): "a Ctrl-C while blocked cancels the wait, never the run",
    (SyncExecution, "subscribe"): "callbacks run on the client's callback thread",
}

PAIRS = [(AsyncPushClient, PushClient), (Execution, SyncExecution)]


def public_names(cls: type) -> set[str]:
    """Public attributes defined by ``cls`` (and the async/sync protocol dunders)."""
    names = {name for name in vars(cls) if not name.startswith("_")}
    return names | {name for name in vars(cls) if name in TWIN_NAMES or name in TWIN_NAMES.values()}


def twin_name(name: str) -> str:
    return TWIN_NAMES.get(name, name)


def members(async_cls: type, sync_cls: type) -> list[tuple[str, str]]:
    return sorted(
        (name, twin_name(name))
        for name in public_names(async_cls)
        if (async_cls, name) not in MISSING
    )


def callable_of(member: Any) -> Callable[..., Any] | None:
    if isinstance(member, property):
        return member.fget
    return member if callable(member) else None


def twin_annotation(annotation: Any) -> Any:
    return TWIN_TYPES.get(annotation, annotation) if isinstance(annotation, str) else annotation


def parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    # ``self`` may be annotated (a verb kept in another module takes its client as a
    # Protocol, client/run_verbs.py): what it is, is each face's own business.
    return [
        (p.name, p.kind, p.default, None if p.name == "self" else p.annotation)
        for p in inspect.signature(function).parameters.values()
    ]


CASES = [(a, s, name, twin) for a, s in PAIRS for name, twin in members(a, s)]
IDS = [f"{s.__name__}.{twin}" for _, s, _, twin in CASES]


def test_every_public_name_has_a_twin_or_a_reason() -> None:
    for async_cls, sync_cls in PAIRS:
        expected = {twin_name(n) for n in public_names(async_cls) if (async_cls, n) not in MISSING}
        extra = {n for (cls, n) in EXTRA if cls is sync_cls}
        assert public_names(sync_cls) == expected | extra, sync_cls.__name__
        for cls, name in MISSING:
            if cls is async_cls:
                assert name in public_names(async_cls) and not hasattr(sync_cls, name), name


@pytest.mark.parametrize(("async_cls", "sync_cls", "name", "twin"), CASES, ids=IDS)
def test_signatures_match(async_cls: type, sync_cls: type, name: str, twin: str) -> None:
    ours, theirs = vars(async_cls)[name], vars(sync_cls)[twin]
    assert isinstance(ours, property) == isinstance(theirs, property), "property on one face only"
    async_fn, sync_fn = callable_of(ours), callable_of(theirs)
    assert async_fn is not None and sync_fn is not None
    async_params, sync_params = parameters(async_fn), parameters(sync_fn)
    added, _reason = EXTRA_PARAMETERS.get((sync_cls, twin), ((), ""))
    assert [p[0] for p in sync_params if p[0] in added] == list(added), "a listed extra is gone"
    assert [p for p in sync_params if p[0] not in added] == async_params
    async_return = inspect.signature(async_fn).return_annotation
    sync_return = inspect.signature(sync_fn).return_annotation
    assert sync_return == twin_annotation(async_return)


@pytest.mark.parametrize(("async_cls", "sync_cls", "name", "twin"), CASES, ids=IDS)
def test_docstrings_match(async_cls: type, sync_cls: type, name: str, twin: str) -> None:
    ours, theirs = inspect.getdoc(vars(async_cls)[name]), inspect.getdoc(vars(sync_cls)[twin])
    assert theirs or name.startswith("__"), f"{sync_cls.__name__}.{twin} has no docstring"
    if (sync_cls, twin) in OWN_DOCS:
        assert theirs != ours, f"{twin} is listed as documented on its own but mirrors"
    else:
        assert theirs == ours


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_class_docstrings_are_the_blocking_faces_own(async_cls: type, sync_cls: type) -> None:
    assert (sync_cls, "__doc__") in OWN_DOCS
    assert inspect.getdoc(sync_cls) and inspect.getdoc(sync_cls) != inspect.getdoc(async_cls)


def test_every_listed_difference_names_a_real_member_and_a_reason() -> None:
    listed = [*MISSING, *EXTRA, *EXTRA_PARAMETERS, *OWN_DOCS]
    for cls, name in listed:
        assert name == "__doc__" or name in vars(cls), (cls.__name__, name)
    reasons = [*MISSING.values(), *EXTRA.values(), *OWN_DOCS.values()]
    reasons += [reason for _, reason in EXTRA_PARAMETERS.values()]
    assert all(len(reason) > 20 for reason in reasons)


def test_the_approval_verbs_are_on_both_faces() -> None:
    """Issue 9: ``approve`` and the approval fields exist on both faces (mirrored above)."""
    assert {"approve"} <= public_names(AsyncPushClient) & public_names(PushClient)
    fields = {"approve", "approvals", "pending_approvals", "reasoning"}
    assert fields <= public_names(Execution) & public_names(SyncExecution)
