"""Who a connection authenticated as."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Principal"]


@dataclass(frozen=True)
class Principal:
    """Who a connection authenticated as; ``None`` fields mean "not known".

    Per-user and per-org connection limits apply only when the identity is
    known (PROTOCOL.md §7).
    """

    user_id: str | None = None
    org_id: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and self.org_id is None


ANONYMOUS = Principal()
