"""Without an extra, its features say which extra to install (not a bare ImportError)."""

from __future__ import annotations

import subprocess
import sys

from support import timeout


def run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where importing ``module`` fails."""
    prelude = f"import sys\nsys.modules[{module!r}] = None  # as if not installed\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=timeout(60),
        check=False,
    )


def test_a_widget_without_the_notebook_extra_names_it() -> None:
    result = run_without(
        "anywidget",
        "try:\n"
        "    from praison_push.notebook import ChannelLog\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n",
    )
    assert result.stdout.strip() == (
        "ChannelLog needs the notebook extra (anywidget is not installed): "
        "pip install 'praison-push[notebook]'"
    ), result.stderr
    # start_gateway needs no extra at all.
    ok = run_without("anywidget", "from praison_push import start_gateway; print('ok')")
    assert ok.stdout == "ok\n", ok.stderr


def test_redis_config_without_the_redis_extra_names_it() -> None:
    result = run_without(
        "redis",
        "from praison_push import Gateway, GatewayConfig, PushConfig, RedisConfig\n"
        "config = GatewayConfig(push=PushConfig(enabled=True, redis=RedisConfig()))\n"
        "try:\n"
        "    Gateway(config)\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n",
    )
    assert result.stdout.strip() == (
        "PushConfig.redis needs the redis extra: pip install 'praison-push[redis]'"
    ), result.stderr


def test_metrics_without_the_metrics_extra_names_it() -> None:
    result = run_without(
        "prometheus_client",
        "from starlette.testclient import TestClient\n"
        "from praison_push import Gateway\n"
        "with TestClient(Gateway().asgi_app()) as http:\n"
        "    response = http.get('/metrics')\n"
        "print(response.status_code, response.text)\n",
    )
    assert result.stdout.strip() == (
        "501 GET /metrics needs the metrics extra: pip install 'praison-push[metrics]'"
    ), result.stderr


def test_jwt_config_without_the_jwt_extra_names_it() -> None:
    result = run_without(
        "jwt",
        "from praison_push import Gateway, GatewayConfig\n"
        "from praison_push.config import AuthConfig, JWTConfig\n"
        "config = GatewayConfig(auth=AuthConfig(jwt=JWTConfig(secret='s' * 32)))\n"
        "try:\n"
        "    Gateway(config)\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n",
    )
    assert result.stdout.strip() == (
        "AuthConfig.jwt needs the jwt extra: pip install 'praison-push[jwt]'"
    ), result.stderr
