"""Organisation-scoped channels (PROTOCOL.md §5: ``executions``, ``agents``,
``notifications`` and ``billing`` are scoped to the caller's org).

A client names the shared channel (``notifications``); a caller with an org
is routed to ``notifications#<org>``, whose frames still say
``notifications``. Naming a scoped channel of another org directly is
forbidden, so an org never sees another org's events.
"""

from __future__ import annotations

from ..protocol import ErrorCode, FrameError
from .session import Principal

__all__ = ["ORG_SCOPED", "display_name", "resolve_channel"]

ORG_SCOPED = frozenset({"executions", "agents", "notifications", "billing"})


def resolve_channel(name: str, principal: Principal) -> str:
    """The internal channel a principal means by ``name``.

    Raises:
        FrameError: ``forbidden`` for another org's scoped channel.
    """
    base, sep, org = name.partition("#")
    if base not in ORG_SCOPED:
        return name
    if sep:
        if org != principal.org_id:
            raise FrameError(
                ErrorCode.FORBIDDEN,
                f"channel {name!r} belongs to another organisation",
                field="channel",
            )
        return name
    return name if principal.org_id is None else f"{name}#{principal.org_id}"


def display_name(internal: str) -> str:
    """The name clients see for an internal channel (the scope suffix removed)."""
    base, sep, _ = internal.partition("#")
    return base if sep and base in ORG_SCOPED else internal
