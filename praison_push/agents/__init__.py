"""Agents: the protocol an agent follows, the registry, demo agents, adapters.

``ChatAgent`` (any OpenAI-compatible model; the ``llm`` extra) lives in
:mod:`praison_push.agents.openai`.
"""

from __future__ import annotations

from .context import AgentContext, Approver
from .demo import DEMO_AGENTS, register_demo_agents
from .events import (
    AgentError,
    AgentEvent,
    Approval,
    Reasoning,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
)
from .registry import AgentRegistry
from .runner import AgentSpec, AgentTypeError, iterate_agent
from .tools import Tool, requires_approval

__all__ = [
    "DEMO_AGENTS",
    "AgentContext",
    "AgentError",
    "AgentEvent",
    "AgentRegistry",
    "AgentSpec",
    "AgentTypeError",
    "Approval",
    "Approver",
    "Reasoning",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
    "Usage",
    "iterate_agent",
    "register_demo_agents",
    "requires_approval",
]
