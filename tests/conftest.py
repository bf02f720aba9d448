"""Shared fixtures: real gateways on 127.0.0.1 port 0 and spawned redis-servers.

Helpers (time unit, waits, recorders, raw clients) live in the ``support`` package.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from support.ordering import spread_long

from praison_push.config import GatewayConfig
from praison_push.server import GatewayThread

# A test about to hit pytest-timeout prints the stacks of the blocking clients' tasks.
pytest_plugins = ["support.hang_report"]

# Tests reach nothing beyond 127.0.0.1: praisonaiagents' telemetry stays off.
os.environ["PRAISONAI_TELEMETRY_DISABLED"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

# pytest caches its assertion-rewritten test modules (and Python the package's
# bytecode) in ``__pycache__`` folders, which .gitignore leaves out — unless
# PYTHONDONTWRITEBYTECODE is set, as on some machines: then every run parses
# and rewrites all ~300 test modules again, over ten seconds of the inner loop.
# The processes the tests spawn (gateways, CLI commands, bench scripts: over a
# hundred) inherit the same choice, each compiling the package again (~0.4 s of
# CPU apiece), so the variable is dropped for them as well.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Property tests run hypothesis's profile: ``default`` (100 examples a property) on a
# developer's machine, ``ci`` — which hypothesis loads itself when it detects CI, as with
# .ci/run's CI=true — with 400 examples, derandomized and without the example database.
settings.register_profile("ci", settings.get_profile("ci"), max_examples=400)

#: Fixtures that spawn a redis-server: a test using one (even indirectly) is marked ``redis``.
_REDIS_FIXTURES = frozenset({"redis_server", "own_redis_server", "redis_server_factory"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the real parts they need, so the inner loop can leave them out;
    then spread the whole-program tests over the first half of the run
    (:mod:`support.ordering`: otherwise one pytest-xdist worker gets them all).
    """
    for item in items:
        if _REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)
    items[:] = spread_long(
        items, lambda item: item.get_closest_marker("e2e") is not None, _ordering_block
    )


def _ordering_block(item: pytest.Item) -> str:
    """Tests sharing a module-scoped fixture stay together (their module); others move alone."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the item's fixtures
    defs = info.name2fixturedefs.values() if info is not None else ()
    if any(chain and chain[-1].scope in ("module", "package") for chain in defs):
        return item.nodeid.split("::", 1)[0]
    return item.nodeid


@pytest.fixture(scope="session")
def _stopping_gateways() -> Iterator[list[GatewayThread]]:
    """Gateways told to stop whose last moments of shutdown run during later tests."""
    stopping: list[GatewayThread] = []
    yield stopping
    for thread in stopping:
        thread.join()


@pytest.fixture
def gateway_factory(
    _stopping_gateways: list[GatewayThread],
) -> Iterator[Callable[..., GatewayThread]]:
    """Start gateways with custom config; all are stopped after the test.

    The test's teardown closes each hub (every connection and run ends) and
    tells uvicorn to exit, but does not wait out uvicorn's own ~0.2 s shutdown:
    that finishes while the next tests run, and the session joins them all.
    """
    started: list[GatewayThread] = []

    def start(config: GatewayConfig | None = None, **fields: Any) -> GatewayThread:
        base = config or GatewayConfig(**fields)
        thread = GatewayThread(base.model_copy(update={"port": 0})).start()
        started.append(thread)
        return thread

    yield start
    for thread in started:
        thread.stop(wait=False)
        _stopping_gateways.append(thread)


@pytest.fixture
def gateway(gateway_factory: Callable[..., GatewayThread]) -> GatewayThread:
    """A real uvicorn gateway with default config on 127.0.0.1 and a free port."""
    return gateway_factory()


# --- Redis: a spawned redis-server, never the system one -------------------------------------


def _redis_binary() -> str:
    """The ``redis-server`` to spawn; its absence fails the test (CI installs it)."""
    from redis_support import redis_server_binary

    binary = redis_server_binary()
    if binary is None:
        pytest.fail("redis-server is not installed: `apt-get install redis-server` (.ci/run does)")
    return binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One ``redis-server`` for the session (a ``redis_support.RedisServer``); tests
    keep apart by key prefix (:func:`redis_config`)."""
    from redis_support import RedisServer

    server = RedisServer(_redis_binary(), tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis_server(tmp_path: Any) -> Iterator[Any]:
    """A ``redis-server`` of this test alone, which it may kill and restart."""
    from redis_support import RedisServer

    server = RedisServer(_redis_binary(), tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def redis_server_factory(tmp_path: Any) -> Iterator[Callable[..., Any]]:
    """Start ``redis-server``s with extra options (``factory(*options)``); all killed after."""
    from redis_support import RedisServer

    binary = _redis_binary()
    started: list[Any] = []

    def start(*options: str) -> Any:
        server = RedisServer(binary, tmp_path, options=list(options)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses."""
    import secrets

    return f"test:{request.node.name[:40]}:{secrets.token_hex(4)}:"
