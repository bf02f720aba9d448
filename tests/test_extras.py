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


def test_ag_ui_without_the_agui_extra_answers_501_naming_it() -> None:
    result = run_without(
        "ag_ui",
        "import httpx\n"
        "from praison_push.config import GatewayConfig\n"
        "from praison_push.server import GatewayThread\n"
        "gateway = GatewayThread(GatewayConfig(port=0)).start()\n"
        "try:\n"
        "    body = {'threadId': 't', 'runId': 'r', 'messages': []}\n"
        "    answer = httpx.post(gateway.http_url + '/v1/agents/echo/ag-ui', json=body)\n"
        "    print(answer.status_code, answer.json()['message'])\n"
        "    part = {'type': 'text', 'text': 'hi'}\n"
        "    sdk = {'id': 'c', 'messages': [{'role': 'user', 'parts': [part]}]}\n"
        "    print(httpx.post(gateway.http_url + '/v1/agents/echo/ai-sdk', json=sdk).status_code)\n"
        "finally:\n"
        "    gateway.stop()\n",
    )
    assert result.stdout.splitlines() == [
        "501 AG-UI needs the ag-ui-protocol package: pip install 'praison-push[agui]'",
        "200",  # the AI SDK stream needs no extra
    ], result.stderr
