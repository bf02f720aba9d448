"""Which principal each ``client_id`` belongs to (issue 13, finding 3).

A ``client_id`` is visible to others (``source`` on every message, presence
entries), and it keys what the gateway keeps for a client: its pending
deliveries, its de-duplication window, its run quota, its presence entry. So a
``client_id`` is bound to the principal (user and organisation) that first
used it, while that principal is connected with it and for ``ttl`` seconds
after its last connection ends (the life of its pending deliveries). Another
principal presenting it in that time is given a fresh id instead, as a client
asking for an invalid one is: the greeting's ``client_id`` says which id it
got.

Anonymous and operator principals (no user, no org) are one principal: on an
open gateway every client is, and nothing is bound. The bindings are this
node's: with several gateways, route a client's reconnections to one node or
give each user its own ``client_id`` namespace.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .principal import Principal

__all__ = ["ClientIds"]

_Owner = tuple[str | None, str | None]


@dataclass
class _Binding:
    owner: _Owner
    connections: int
    released_at: float
    #: Kept ``ttl`` past its last connection: an id the client chose (it comes back
    #: with it). A generated id is let go at once (nobody comes back with it).
    sticky: bool = True


def owner_of(principal: Principal) -> _Owner:
    """The identity a ``client_id`` is bound to (a refreshed token keeps it)."""
    return (principal.user_id, principal.org_id)


class ClientIds:
    """The ``client_id`` → principal bindings of one node.

    Args:
        ttl: Seconds a binding outlives its last connection.
        max_idle: The most bindings kept without a connection (the oldest go first).
    """

    def __init__(self, ttl: float, max_idle: int = 100_000) -> None:
        self._ttl = ttl
        self._max_idle = max_idle
        self._bindings: dict[str, _Binding] = {}
        # Bindings without a connection, oldest release first.
        self._idle: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._bindings)

    def claim(
        self, client_id: str, principal: Principal, now: float, *, sticky: bool = True
    ) -> bool:
        """Bind ``client_id`` to ``principal`` for one more connection.

        ``sticky=False`` (an id the gateway generated) binds it only while connected.
        Returns ``False`` (and binds nothing) when another principal holds it.
        """
        self._expire(now)
        owner = owner_of(principal)
        binding = self._bindings.get(client_id)
        if binding is None:
            self._bindings[client_id] = _Binding(owner, 1, now, sticky)
            return True
        if binding.owner != owner:
            return False
        binding.connections += 1
        binding.sticky = binding.sticky or sticky
        self._idle.pop(client_id, None)
        return True

    def release(self, client_id: str, now: float) -> None:
        """One connection of ``client_id`` ended; the binding lasts ``ttl`` past the last."""
        binding = self._bindings.get(client_id)
        if binding is None:
            return
        binding.connections -= 1
        if binding.connections <= 0 and not binding.sticky:
            del self._bindings[client_id]
        elif binding.connections <= 0:
            binding.connections = 0
            binding.released_at = now
            self._idle[client_id] = None
            self._idle.move_to_end(client_id)

    def _expire(self, now: float) -> None:
        idle, bindings = self._idle, self._bindings
        while idle:
            oldest = next(iter(idle))
            binding = bindings[oldest]
            if len(idle) <= self._max_idle and now - binding.released_at < self._ttl:
                return
            del idle[oldest], bindings[oldest]
