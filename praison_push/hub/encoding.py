"""Native frames to wire text, per dialect: one encoder per connection kind.

A publication is encoded once per dialect present among its subscribers
(docs/ARCHITECTURE.md, "Hot path: a publication"); a connection's own replies
go through the same table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..protocol import encode_json
from ..protocol.dialects import Dialect, to_agent_chat, to_envelope
from ..protocol.sse import to_sse_execution

__all__ = ["SSE_DIALECTS", "SSE_EXECUTION", "SSE_RUN", "Encoder", "encoder_for"]

#: The pseudo-dialect of an SSE run stream (``/v1/agents/{id}/execute/stream``).
SSE_EXECUTION = "sse-execution"
#: The pseudo-dialect of the agent-UI streams (AG-UI, AI SDK): native frames, which
#: each stream translates itself (its translator keeps per-stream state).
SSE_RUN = "sse-run"
#: Connections that are HTTP streams: they never speak, so they never idle out.
SSE_DIALECTS = frozenset({SSE_EXECUTION, SSE_RUN})

Encoder = Callable[[dict[str, Any]], tuple[str, ...]]


def _native(frame: dict[str, Any]) -> tuple[str, ...]:
    return (encode_json(frame),)


def _envelope(frame: dict[str, Any]) -> tuple[str, ...]:
    # Every envelope frame carries a timestamp (agent platform spec); replies
    # have none of their own, so they get the time they are encoded.
    return tuple(encode_json(out) for out in to_envelope(frame, now=time.time()))


def _agent_chat(frame: dict[str, Any]) -> tuple[str, ...]:
    return tuple(encode_json(out) for out in to_agent_chat(frame))


def _sse_execution(frame: dict[str, Any]) -> tuple[str, ...]:
    return tuple(to_sse_execution(frame))


_ENCODERS: dict[str, Encoder] = {
    Dialect.PRAISON.value: _native,
    Dialect.ENVELOPE.value: _envelope,
    Dialect.AGENT_CHAT.value: _agent_chat,
    SSE_EXECUTION: _sse_execution,
    SSE_RUN: _native,
}


def encoder_for(dialect: str) -> Encoder:
    """The encoder of ``dialect`` (a :class:`Dialect` value or :data:`SSE_EXECUTION`)."""
    return _ENCODERS[dialect]
