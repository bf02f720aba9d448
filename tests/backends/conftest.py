"""The backend contract suites' factories: one param per implementation.

Every test in ``test_contract_*.py`` runs against each kit below: memory, and
Redis on a spawned ``redis-server`` (each kit under its own key prefix). To add
an implementation, add a param and a kit (``helpers.py``) built in :func:`backend`; a kit that
cannot follow an injected clock sets ``controls_clock=False`` and the expiry
tests skip for it (the Redis store takes the clock too, so none skip today).
``delivery_kit`` does the same for the delivery stores (memory, SQLite, Redis;
``delivery_kits.py``), for ``test_contract_delivery.py``; ``presence_kit`` and
``dedup_kit`` (``shared_kits.py``) for ``test_contract_presence.py`` and
``test_contract_dedup.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from praison_push.backends import DedupStore, PresenceStore

from . import delivery_kits, shared_kits
from .delivery_kits import DeliveryKit
from .helpers import BackendKit, memory_kit, redis_kit
from .shared_kits import SharedKit


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


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)],
)
async def delivery_kit(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[DeliveryKit]:
    """A kit for each :class:`DeliveryStore` implementation under contract."""
    if request.param == "redis":
        kit = delivery_kits.redis_kit(request.getfixturevalue("redis_server").url)
    elif request.param == "sqlite":
        kit = delivery_kits.sqlite_kit(tmp_path)
    else:
        kit = delivery_kits.memory_kit()
    try:
        yield kit
    finally:
        await kit.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def presence_kit(request: pytest.FixtureRequest) -> AsyncIterator[SharedKit[PresenceStore]]:
    """A kit for each :class:`PresenceStore` implementation under contract."""
    if request.param == "redis":
        kit = shared_kits.redis_presence(request.getfixturevalue("redis_server").url)
    else:
        kit = shared_kits.memory_presence()
    try:
        yield kit
    finally:
        await kit.close()


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)],
)
async def dedup_kit(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SharedKit[DedupStore]]:
    """A kit for each :class:`DedupStore` implementation under contract."""
    if request.param == "redis":
        kit = shared_kits.redis_dedup(request.getfixturevalue("redis_server").url)
    elif request.param == "sqlite":
        kit = shared_kits.sqlite_dedup(tmp_path)
    else:
        kit = shared_kits.memory_dedup()
    try:
        yield kit
    finally:
        await kit.close()
