"""Organisation-scoped channels (PROTOCOL.md §5: ``executions``, ``agents``,
``notifications`` and ``billing`` are scoped to the caller's org).

A client names the shared channel (``notifications``); a caller with an org
is routed to ``notifications#<org>``, whose frames still say
``notifications``. Naming a scoped channel of another org directly is
forbidden, so an org never sees another org's events. Run channels
(``executions:<id>``) are scoped the same way, by name: whether a caller may
watch a run needs no lookup, so it holds for runs long finished or started on
another gateway.

A user without an organisation is scoped to itself (``executions#~<user_id>``,
:attr:`Principal.scope`), so two such users never share a run feed; anonymous
and operator identities (no user) share the unscoped channels.
"""

from __future__ import annotations

from ..protocol import ErrorCode, FrameError
from ..protocol.runs import RUN_CHANNEL_PREFIX, RUN_FEED, run_channel
from .principal import Principal

__all__ = [
    "DEAD_LETTER",
    "ORG_SCOPED",
    "display_name",
    "is_run_name",
    "resolve_channel",
    "scoped_name",
    "scoped_run_channel",
    "visible_names",
]

#: Where undeliverable tracked messages go (PROTOCOL.md §3); only the gateway writes it.
DEAD_LETTER = "$dead-letter"

#: Scoped to the caller's organisation. ``$dead-letter`` is too, so an organisation
#: reads the dead letters of its own scoped channels only.
ORG_SCOPED = frozenset({RUN_FEED, "agents", "notifications", "billing", DEAD_LETTER})


def is_run_name(name: str) -> bool:
    """Whether ``name`` (an org scope suffix allowed) is the run feed or lies in the
    run channels' namespace (``executions:…``).

    Only the gateway writes there, and those channels carry run events, never
    presence. Exactly these names: a user channel such as ``executions-log`` is
    an ordinary channel.
    """
    base = name.partition("#")[0]
    return base == RUN_FEED or base.startswith(RUN_CHANNEL_PREFIX)


def _is_scoped(base: str) -> bool:
    return base in ORG_SCOPED or base.startswith(RUN_CHANNEL_PREFIX)


def scoped_name(name: str, scope: str | None) -> str:
    """The internal name of a scoped channel for ``scope`` (a :attr:`Principal.scope`:
    an org id, or a user's own scope; unchanged without one)."""
    return name if scope is None else f"{name}#{scope}"


def scoped_run_channel(execution_id: str, scope: str | None) -> str:
    """The internal channel of one run, scoped to its requester's org (or user)."""
    return scoped_name(run_channel(execution_id), scope)


def resolve_channel(name: str, principal: Principal) -> str:
    """The internal channel a principal means by ``name``.

    Raises:
        FrameError: ``forbidden`` for another org's scoped channel.
    """
    base, sep, org = name.partition("#")
    if not _is_scoped(base):
        return name
    if sep:
        if org != principal.scope:
            raise FrameError(
                ErrorCode.FORBIDDEN,
                f"channel {name!r} belongs to another organisation",
                field="channel",
            )
        return name
    return scoped_name(name, principal.scope)


def display_name(internal: str) -> str:
    """The name clients see for an internal channel (the scope suffix removed)."""
    base, sep, _ = internal.partition("#")
    return base if sep and _is_scoped(base) else internal


def visible_names(names: list[str], principal: Principal) -> list[str]:
    """The channels ``principal`` may learn of, as it names them (``channel.list``).

    Gateway channels (``$…``) and run channels are left out (run ids are
    capabilities), and so are other organisations' scopes.
    """
    visible: set[str] = set()
    for name in names:
        base, sep, org = name.partition("#")
        if name.startswith("$") or base.startswith(RUN_CHANNEL_PREFIX):
            continue
        if base in ORG_SCOPED:
            if (org if sep else None) != principal.scope:
                continue
            visible.add(base)
        else:
            visible.add(name)
    return sorted(visible)
