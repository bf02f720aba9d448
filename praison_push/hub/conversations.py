"""Conversations: the turns of each ``session_id`` of agent runs, kept per caller.

A run started with a ``session_id`` (the wire name; ``/ws/{session_id}`` for
agent-chat) is one turn of a conversation: the agent gets the earlier turns as
``context.history``. Memory is bounded: the least recently used conversations
are dropped past :data:`MAX_CONVERSATIONS`, and each keeps its last
:data:`MAX_TURNS` turns.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .principal import ANONYMOUS, Principal

__all__ = ["MAX_CONVERSATIONS", "MAX_TURNS", "Conversations"]

#: Conversations remembered (least recently used dropped first), and turns per conversation.
MAX_CONVERSATIONS = 10_000
MAX_TURNS = 100

_Key = tuple[str | None, str, str]


def _key(principal: Principal, conversation_id: str | None) -> _Key | None:
    """Whose conversation ``conversation_id`` is: an id alone would let anyone who
    guesses it read another user's turns (they reach the agent as history).

    Identified users (a ``TokenGrant`` with ``user_id``/``org_id``) each have
    their own conversations. Anonymous callers share one trust domain (an open
    gateway or one shared token), so they share conversations by id — which is
    what lets a reconnecting agent-chat client continue ``/ws/{session_id}``.
    """
    if not conversation_id:
        return None
    return (principal.org_id, principal.user_id or "", conversation_id)


class Conversations:
    """The turns of every conversation, least recently used first.

    Args:
        max_conversations: Conversations kept; clients inventing ids cannot grow it further.
        max_turns: Turns kept per conversation (the newest).
    """

    def __init__(self, max_conversations: int = MAX_CONVERSATIONS, max_turns: int = MAX_TURNS):
        self._max_conversations = max_conversations
        self._max_turns = max_turns
        self._turns: OrderedDict[_Key, list[dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._turns)

    def history(
        self, conversation_id: str | None, principal: Principal = ANONYMOUS
    ) -> list[dict[str, Any]]:
        """A copy of the turns kept for ``conversation_id`` of this caller."""
        key = _key(principal, conversation_id)
        return list(self._turns.get(key, [])) if key else []

    def remember(
        self, principal: Principal, conversation_id: str | None, question: str, answer: str
    ) -> None:
        """Add one exchange (the user's input, the agent's output) to a conversation."""
        key = _key(principal, conversation_id)
        if key is None:
            return
        turns = self._turns.setdefault(key, [])
        self._turns.move_to_end(key)
        turns.append({"role": "user", "content": question})
        turns.append({"role": "assistant", "content": answer})
        del turns[: -self._max_turns]
        while len(self._turns) > self._max_conversations:
            self._turns.popitem(last=False)
