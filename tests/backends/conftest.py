"""The backend contract suite's factory: one param per implementation.

Every test in ``test_contract_*.py`` runs against each kit below: memory, and
Redis on a spawned ``redis-server`` (each kit under its own key prefix). To add
an implementation, add a param and a kit (``helpers.py``) built in :func:`backend`; a kit that
cannot follow an injected clock sets ``controls_clock=False`` and the expiry
tests skip for it (the Redis store takes the clock too, so none skip today).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .helpers import BackendKit, memory_kit, redis_kit


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[BackendKit]:
    """A kit for each backend implementation under contract."""
    if request.param == "redis":
        kit = redis_kit(request.getfixturevalue("redis_server").url)
    else:
        kit = memory_kit()
    try:
        yield kit
    finally:
        await kit.close()
