"""Fixtures for the security tests: gateways with JWT authentication."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from praison_push.config import (
    AuthConfig,
    GatewayConfig,
    JWTConfig,
    LimitsConfig,
    PresenceConfig,
    PushConfig,
)
from praison_push.server import GatewayThread

from .jwt_support import AUDIENCE, ISSUER, SECRET


def hs256_config(**auth: Any) -> GatewayConfig:
    jwt = JWTConfig(secret=SecretStr(SECRET), audience=AUDIENCE, issuer=ISSUER)
    return GatewayConfig(auth=AuthConfig(jwt=jwt, **auth), limits=LimitsConfig(auth_timeout=0.5))


@pytest.fixture
def jwt_gateway(gateway_factory: Callable[..., GatewayThread]) -> GatewayThread:
    """A gateway accepting HS256 JWTs (and one static operator token, ``operator-token``)."""
    return gateway_factory(hs256_config(tokens=["operator-token"]))


@pytest.fixture
def expiring_gateway(gateway_factory: Callable[..., GatewayThread]) -> GatewayThread:
    """:func:`jwt_gateway` whose upkeep, which ends sessions past their token's ``exp``,
    sweeps every 0.25 s (a quarter of the shortest heartbeat, 1 s), not every second."""
    config = hs256_config(tokens=["operator-token"])
    presence = PresenceConfig(heartbeat_interval=1)
    return gateway_factory(
        config.model_copy(update={"push": PushConfig(enabled=True, presence=presence)})
    )
