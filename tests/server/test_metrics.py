"""``GET /metrics`` (issue 13, Build 7): Prometheus text, behind the gateway's token.

Counts are checked against what the test itself did on a live gateway.
"""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families
from support import ask, expect, http_client, raw_client, timeout, wait_until

from praison_push.config import AuthConfig, GatewayConfig, MetricsConfig, TokenGrant

from .helpers import Serve, messages

TOKEN = "metrics-Secret-42"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(http_url: str, **kwargs: object) -> httpx.Response:
    async with http_client() as http:
        return await http.get(f"{http_url}/metrics", **kwargs)  # type: ignore[arg-type]


async def test_metrics_need_the_token_and_count_what_happened(serve: Serve) -> None:
    gateway = serve(GatewayConfig(auth=AuthConfig(tokens=[TOKEN])))
    assert (await scrape(gateway.http_url)).status_code == 401
    assert (await scrape(gateway.http_url, params={"token": "wrong"})).status_code == 401
    url = f"{gateway.url}?token={TOKEN}"
    async with raw_client(url) as reader, raw_client(url) as other, raw_client(url) as writer:
        subscribed = await ask(reader, "channel.subscribe", channel="news")
        await ask(other, "channel.subscribe", channel="news")
        for n in range(3):
            await ask(writer, "channel.publish", channel="news", data=n)
        await messages(reader, 3)
        await messages(other, 3)
        await writer.send("not json")
        await expect(writer, "error", code="bad_frame")
        since = {"offset": 0, "epoch": subscribed["epoch"]}
        await ask(writer, "channel.subscribe", channel="news", since=since, ref="r")
        await messages(writer, 3)  # the recovered ones
        accepted = await ask(writer, "execute", agent_id="echo", input="hello")
        assert accepted["type"] == "execute.accepted", accepted
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = await scrape(gateway.http_url, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        got = samples(response.text)
        assert got[("praison_push_connections", (("transport", "websocket"),))] == 3
        assert got[("praison_push_connections", (("transport", "sse"),))] == 0
        assert got[("praison_push_publications_total", ())] >= 3
        assert got[("praison_push_deliveries_total", ())] >= 6
        assert got[("praison_push_recoveries_total", (("recovered", "true"),))] == 1
        assert got[("praison_push_client_errors_total", (("code", "bad_frame"),))] == 1
        assert got[("praison_push_auth_failures_total", ())] == 2  # the two scrapes above
        assert got[("praison_push_messages_received_total", ())] >= 8

        def run_counted() -> bool:
            counted = samples(gateway_metrics_text(gateway.gateway))
            return counted.get(("praison_push_runs_total", (("status", "completed"),))) == 1

        await wait_until(run_counted, what="the echo run finished and was counted")
        final = samples((await scrape(gateway.http_url, params={"token": TOKEN})).text)
        assert final[("praison_push_run_duration_seconds_count", ())] == 1
        assert final[("praison_push_run_duration_seconds_bucket", (("le", "+Inf"),))] == 1
        assert TOKEN not in response.text


def gateway_metrics_text(gateway: object) -> str:
    from praison_push.server.metrics import MetricsEndpoint

    body, _ = MetricsEndpoint(gateway.hub)._render()  # type: ignore[attr-defined]
    return body.decode()


async def test_metrics_can_be_public_and_health_stays_open_without_secrets(serve: Serve) -> None:
    config = GatewayConfig(auth=AuthConfig(tokens=[TOKEN]), metrics=MetricsConfig(public=True))
    gateway = serve(config)
    assert (await scrape(gateway.http_url)).status_code == 200
    async with http_client() as http:
        health = await http.get(f"{gateway.http_url}/health", params={"token": TOKEN})
    assert health.status_code == 200
    assert set(health.json()) == {"status", "connections", "channels", "backend"}
    assert TOKEN not in health.text
    off = serve(GatewayConfig(metrics=MetricsConfig(enabled=False)))
    assert (await scrape(off.http_url)).status_code == 404


async def test_slow_consumer_closes_and_drops_are_counted(serve: Serve) -> None:
    from praison_push.config import LimitsConfig

    gateway = serve(limits=LimitsConfig(send_queue_max_frames=1, send_queue_max_bytes=1024))
    async with raw_client(gateway.url) as reader, raw_client(gateway.url) as writer:
        await ask(reader, "channel.subscribe", channel="c")
        hub = gateway.gateway.hub  # type: ignore[union-attr]
        # A burst in one loop turn overflows a 1-frame queue: 1013, later ones dropped.
        gateway.call(lambda: [hub.node.deliver_local("c", _message(n)) for n in range(5)])
        await wait_until(lambda: hub.metrics.slow_consumer_closes == 1, what="1013 counted")
        assert hub.metrics.drops >= 1
        text = (await scrape(gateway.http_url)).text
        assert samples(text)[("praison_push_slow_consumer_closes_total", ())] == 1
        await ask(writer, "ping")


def _message(n: int) -> dict[str, object]:
    return {
        "type": "channel_message",
        "channel": "c",
        "data": n,
        "event_id": f"e{n}",
        "timestamp": 0.0,
        "source": "other",
        "offset": n + 1,
        "epoch": "x",
    }


async def test_the_hub_imports_no_prometheus() -> None:
    import ast
    import pathlib

    import praison_push.hub as hub_package

    for path in pathlib.Path(hub_package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [n for n in names if "prometheus" in n], path


async def test_metrics_need_the_gateways_token_not_a_users(serve: Serve) -> None:
    """A user's token (TokenGrant, JWT) may not read every organisation's counts."""
    grants = [TOKEN, TokenGrant(token="user-token", user_id="alice", org_id="acme")]
    gateway = serve(GatewayConfig(auth=AuthConfig(tokens=grants)))  # type: ignore[arg-type]
    async with http_client(base_url=gateway.http_url, timeout=timeout(5)) as http:
        user = await http.get("/metrics", headers={"Authorization": "Bearer user-token"})
        operator = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert user.status_code == 403 and user.json()["code"] == "forbidden"
    assert operator.status_code == 200


async def test_connections_are_counted_by_the_transport_that_carries_them(serve: Serve) -> None:
    from collections.abc import AsyncIterator

    from httpx_sse import aconnect_sse

    from praison_push.client import AsyncPushClient
    from praison_push.config import PushConfig

    gateway = serve(GatewayConfig(push=PushConfig(enabled=True)))
    hub = gateway.gateway.hub  # type: ignore[union-attr]

    async def forever(text: str) -> AsyncIterator[str]:
        yield "started "
        await asyncio.Event().wait()  # until the gateway stops

    gateway.call(lambda: hub.agents.register("forever", forever))
    ag_ui = {
        "threadId": "t",
        "runId": "r",
        "messages": [{"id": "m", "role": "user", "content": "x"}],
    }
    ag_ui.update(tools=[], context=[], state={}, forwardedProps={})

    def by_transport(text: str) -> dict[str, float]:
        return {
            dict(labels)["transport"]: value
            for (name, labels), value in samples(text).items()
            if name == "praison_push_connections"
        }

    async with (
        http_client(base_url=gateway.http_url, timeout=timeout(10)) as http,
        raw_client(gateway.url) as ws,
        AsyncPushClient(gateway.url, transports=["polling"]) as poller,
        AsyncPushClient(gateway.url, transports=["sse"]) as streamer,
        aconnect_sse(http, "GET", "/api/push/sse?channels=news") as channel_stream,
        http.stream("POST", "/v1/agents/forever/execute/stream", json={"input": "x"}) as run,
        http.stream("POST", "/v1/agents/forever/ag-ui", json=ag_ui) as agent_ui,
    ):
        assert (poller.transport, streamer.transport) == ("polling", "sse")
        assert channel_stream.response.status_code == 200
        assert run.status_code == 200 and agent_ui.status_code == 200
        await ask(ws, "ping")
        got = by_transport((await scrape(gateway.http_url)).text)
        # Poll and SSE clients speak the native dialect: they used to count as websocket.
        assert got == {"websocket": 1, "poll": 1, "sse": 2, "sse-run": 1, "agent-ui": 1}
        assert sum(got.values()) == len(hub.connections)
    await wait_until(lambda: not hub.connections, what="every connection closed")
    got = by_transport((await scrape(gateway.http_url)).text)
    assert got == {"websocket": 0, "poll": 0, "sse": 0, "sse-run": 0, "agent-ui": 0}
