"""Fixtures for agent-run tests: gateways with org-bound tokens, and test agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig, TokenGrant
from praison_push.hub import Hub
from praison_push.server import GatewayThread

#: Tokens of the org-scoping tests: the agent platform spec's user and org, and a second org.
TOKEN_A = "token-org-a"
TOKEN_A2 = "token-org-a-2"
TOKEN_B = "token-org-b"
USER_A, ORG_A = "usr_abc123", "org_xyz789"
USER_B, ORG_B = "usr_def456", "org_other"

Factory = Callable[..., GatewayThread]


def hub_of(gateway: GatewayThread) -> Hub:
    assert gateway.gateway is not None
    return gateway.gateway.hub


def register(gateway: GatewayThread, name: str, agent: Any) -> None:
    """Register ``agent`` on the gateway's own loop thread (the registry is not locked)."""
    hub = hub_of(gateway)
    gateway.call(lambda: hub.agents.register(name, agent))


@pytest.fixture
def orgs(gateway_factory: Factory) -> GatewayThread:
    """A gateway whose tokens stand for users of two organisations (small auth timeout)."""
    grants = [
        TokenGrant(token=TOKEN_A, user_id=USER_A, org_id=ORG_A),
        TokenGrant(token=TOKEN_A2, user_id="usr_second", org_id=ORG_A),
        TokenGrant(token=TOKEN_B, user_id=USER_B, org_id=ORG_B),
    ]
    config = GatewayConfig(
        auth=AuthConfig(tokens=grants),  # type: ignore[arg-type]
        limits=LimitsConfig(auth_timeout=0.2),
    )
    return gateway_factory(config)
