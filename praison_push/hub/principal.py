"""Who a connection authenticated as."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANONYMOUS", "USER_SCOPE_PREFIX", "Principal"]

#: What the scope of a user without an organisation starts with; no org id may.
USER_SCOPE_PREFIX = "~"


@dataclass(frozen=True)
class Principal:
    """Who a connection authenticated as; ``None`` fields mean "not known".

    Per-user and per-org connection limits apply only when the identity is
    known (PROTOCOL.md §7).
    """

    user_id: str | None = None
    org_id: str | None = None

    def __post_init__(self) -> None:
        if self.org_id is not None and self.org_id.startswith(USER_SCOPE_PREFIX):
            raise ValueError(
                f"an org id may not start with {USER_SCOPE_PREFIX!r} "
                "(that marks a user's own scope)"
            )

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and self.org_id is None

    @property
    def scope(self) -> str | None:
        """What isolates this principal's scoped channels (the run feeds, ``notifications``…).

        The organisation; for a user without one, the user alone
        (``~<user_id>``), so users without an organisation never share a feed
        (issue 13, finding 4); ``None`` for anonymous and operator identities,
        which share the unscoped channels.
        """
        if self.org_id is not None:
            return self.org_id
        if self.user_id is not None:
            return USER_SCOPE_PREFIX + self.user_id
        return None


ANONYMOUS = Principal()
