"""What an agent-chat ``subscribe {agent_id}`` watches: the agent's replies in your conversation.

In the agent framework guide's server a chat's ``agent_thinking``,
``stream_chunk``, ``tool_update``, ``response`` and ``agent_done`` go to the
connection that sent the ``chat``: two people chatting with one agent never see
each other's streams. The connection that chats watches its run's own channel
(:func:`~.runs.start_run`), so it needs no subscription at all.
``subscribe {agent_id}`` adds the other connections of the *same conversation*
(``/ws/{session_id}``, same caller as :mod:`.conversations` defines it): it
becomes a subscription to the run feed filtered by agent, conversation and
user, so it holds across gateways like any subscription. A connection without
a conversation (plain ``/ws``) has nothing more to watch: its subscribe is
checked and answered, and subscribes to nothing (PROTOCOL.md §8, agent-chat).
"""

from __future__ import annotations

from collections.abc import Container

from ..protocol import ErrorCode, FrameError
from ..protocol.frames import Filters
from .connection import Connection

__all__ = ["agent_watch_filters"]


def _agent_ids(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def agent_watch_filters(
    connection: Connection, feed: str, requested: Filters | None, known: Container[str]
) -> Filters | None:
    """The run-feed filters an agent-chat ``subscribe`` leaves in force, or ``None``
    when the connection has no conversation (nothing to subscribe).

    Subscribing to a second agent adds it, as the guide's server keeps a set of
    agents per client.

    Args:
        connection: The agent-chat connection.
        feed: The internal run feed it names (org-scoped).
        requested: The filters of the subscribe (``{"agent_id": …}``).
        known: The agents the gateway has.

    Raises:
        FrameError: ``invalid_field`` without an agent id; ``unknown_agent``
            for an agent the gateway does not have (the guide's answer).
    """
    wanted = _agent_ids((requested or {}).get("agent_id", ""))
    for agent_id in wanted or [""]:
        if not agent_id:
            raise FrameError(
                ErrorCode.INVALID_FIELD, "No agent_id provided for subscription", field="agent_id"
            )
        if agent_id not in known:
            raise FrameError(
                ErrorCode.UNKNOWN_AGENT, f"No agent with ID '{agent_id}' exists", field="agent_id"
            )
    conversation = connection.conversation_id
    if conversation is None:
        return None
    current = connection.subscriptions.get(feed)
    agents = _agent_ids(current["agent_id"]) if current and "agent_id" in current else []
    agents += [agent_id for agent_id in wanted if agent_id not in agents]
    filters: Filters = {"agent_id": agents, "session_id": conversation}
    user_id = connection.principal.user_id
    if user_id is not None:
        filters["user_id"] = user_id
    return filters
