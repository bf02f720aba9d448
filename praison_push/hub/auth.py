"""Token checks: constant time, and nothing secret ever logged or repr'd."""

from __future__ import annotations

import hmac

from ..config import AuthConfig, TokenGrant
from .principal import ANONYMOUS, Principal

__all__ = ["Authenticator"]


class Authenticator:
    """Maps a presented token to a :class:`Principal`, or refuses it.

    Every configured token is compared with :func:`hmac.compare_digest`, and all
    of them are compared every time, so the time taken says nothing about which
    token nearly matched.
    """

    def __init__(self, config: AuthConfig) -> None:
        self._grants: list[tuple[bytes, Principal]] = []
        for entry in config.tokens:
            if isinstance(entry, TokenGrant):
                secret = entry.token.get_secret_value()
                principal = Principal(entry.user_id, entry.org_id)
            else:
                secret = entry.get_secret_value()
                principal = ANONYMOUS
            self._grants.append((secret.encode("utf-8"), principal))

    def __repr__(self) -> str:
        return f"<Authenticator tokens={len(self._grants)}>"

    @property
    def required(self) -> bool:
        """Whether connections must present a token."""
        return bool(self._grants)

    def check(self, token: str | None) -> Principal | None:
        """The principal for ``token``, or ``None`` when it is not accepted.

        With no tokens configured every connection is accepted anonymously.
        """
        if not self._grants:
            return ANONYMOUS
        if token is None:
            return None
        presented = token.encode("utf-8", "surrogatepass")
        found: Principal | None = None
        for secret, principal in self._grants:
            if hmac.compare_digest(presented, secret) and found is None:
                found = principal
        return found
