"""Who a connection authenticated as."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ANONYMOUS", "OPERATOR", "USER_SCOPE_PREFIX", "AuthError", "Principal"]

#: What the scope of a user without an organisation starts with; no org id may.
USER_SCOPE_PREFIX = "~"


@dataclass(frozen=True)
class Principal:
    """Who a connection authenticated as; ``None`` fields mean "not known".

    Two principals are the same identity when their ``user_id`` and ``org_id``
    are: the other fields say what a token grants and until when, so a
    refreshed token (a new ``exp``) is still the same identity. Per-user and
    per-org connection limits apply only when the identity is known
    (PROTOCOL.md §7).

    Attributes:
        user_id: The user (a ``TokenGrant``'s ``user_id``, a JWT's ``sub``).
        org_id: The organisation (a JWT's ``org``).
        permissions: What else the token grants (``dead_letter`` reads
            ``$dead-letter``); a JWT's ``permissions`` claim.
        channels: Channel-name patterns (``fnmatch`` globs) the token is limited
            to, on top of the channel rules; ``None``: not limited. A JWT's
            ``channels`` claim.
        expires_at: When the token expires (POSIX seconds); the connection is
            closed with 4001 then unless it sent ``auth.refresh``.
        operator: A gateway operator: a static token without a user, or anyone
            on a gateway without authentication. Operators read ``$dead-letter``.
    """

    user_id: str | None = None
    org_id: str | None = None
    permissions: frozenset[str] = field(default=frozenset(), compare=False)
    channels: tuple[str, ...] | None = field(default=None, compare=False)
    expires_at: float | None = field(default=None, compare=False)
    operator: bool = field(default=False, compare=False)

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


class AuthError(Exception):
    """A token was refused; ``code`` is ``invalid_token``, ``token_expired`` or
    ``auth_required``; the message never contains the token."""

    def __init__(self, message: str, code: str = "invalid_token") -> None:
        super().__init__(message)
        self.code = code

    @property
    def expired(self) -> bool:
        return self.code == "token_expired"


ANONYMOUS = Principal()
#: A static token without a user, or anyone on a gateway without authentication.
OPERATOR = Principal(operator=True)
