"""Without the ``agui`` extra, the AG-UI endpoint says which extra to install."""

from __future__ import annotations

from test_extras import run_without


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
