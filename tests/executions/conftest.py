"""Fixtures for agent-run tests: gateways with org-bound tokens, and test agents."""

from __future__ import annotations

import pytest

from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig, TokenGrant
from praison_push.server import GatewayThread

from .helpers import ORG_A, ORG_B, TOKEN_A, TOKEN_A2, TOKEN_B, USER_A, USER_B, Factory


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
