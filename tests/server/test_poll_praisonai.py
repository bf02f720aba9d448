"""PraisonAI's own polling fallback against this gateway.

``praisonai.push.PollingTransport`` (praisonai 4.7) is an ``aiohttp`` client of
``/api/push/poll/*``: it registers with ``{}``, maps ``channel.subscribe``,
``channel.unsubscribe``, ``message_ack`` and ``presence.heartbeat`` onto the
routes of the same name (``raise_for_status`` on each), and long-polls
``messages`` with ``{"poll_token", "timeout": 30}``, taking ``messages[0]`` and
buffering the rest. The ``praisonai`` wrapper package pulls in litellm, mcp,
textual and more, so it is not a test dependency: this test makes exactly those
requests, with ``aiohttp`` as it does (quick, needing no install);
``test_praisonai_client.py`` (e2e) runs the real package.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from support import raw_client

from praison_push.config import AuthConfig, GatewayConfig, PushConfig

from .helpers import Serve


class PraisonPolling:
    """The requests ``praisonai.push.PollingTransport`` makes, in its order and shapes."""

    def __init__(self, base_url: str, auth_token: str | None) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self.session = aiohttp.ClientSession()
        self.poll_token = ""
        self.client_id = ""
        self.buffer: list[dict[str, Any]] = []

    async def connect(self) -> None:
        async with self.session.post(
            f"{self.base}/api/push/poll/register", json={}, headers=self.headers
        ) as resp:
            resp.raise_for_status()
            data = await resp.json()
            self.poll_token, self.client_id = data["poll_token"], data["client_id"]

    async def send(self, data: dict[str, Any]) -> None:
        routes = {
            "channel.subscribe": ("subscribe", {"channel": data.get("channel", "")}),
            "channel.unsubscribe": ("unsubscribe", {"channel": data.get("channel", "")}),
            "message_ack": ("ack", {"event_id": data.get("event_id", "")}),
            "presence.heartbeat": ("heartbeat", {"status": data.get("status", "online")}),
        }
        route, body = routes[data["type"]]
        async with self.session.post(
            f"{self.base}/api/push/poll/{route}",
            json={"poll_token": self.poll_token, **body},
            headers=self.headers,
        ) as resp:
            resp.raise_for_status()

    async def receive(self) -> dict[str, Any]:
        if self.buffer:
            return self.buffer.pop(0)
        async with self.session.post(
            f"{self.base}/api/push/poll/messages",
            json={"poll_token": self.poll_token, "timeout": 30},
            headers=self.headers,
        ) as resp:
            resp.raise_for_status()
            messages = (await resp.json()).get("messages", [])
            if messages:
                self.buffer.extend(messages[1:])
                return messages[0]  # type: ignore[no-any-return]
        return {"type": "_poll_empty"}

    async def disconnect(self) -> None:
        await self.session.close()


async def test_praisonai_polling_transport_works_against_the_gateway(serve: Serve) -> None:
    gateway = serve(GatewayConfig(push=PushConfig(enabled=True), auth=AuthConfig(tokens=["tok"])))
    # PraisonAI derives the HTTP root from the WebSocket URL by dropping "/ws".
    transport = PraisonPolling(gateway.http_url, "tok")
    headers = {"Authorization": "Bearer tok"}
    try:
        await transport.connect()
        assert transport.client_id and transport.poll_token
        assert (await transport.receive())["type"] == "connected"
        await transport.send({"type": "channel.subscribe", "channel": "alerts"})
        await transport.send({"type": "presence.heartbeat", "status": "online"})
        async with raw_client(gateway.url, additional_headers=headers) as ws:
            for n in range(3):
                await ws.send(
                    json.dumps({"type": "channel.publish", "channel": "alerts", "data": n})
                )
            received = []
            while len(received) < 3:
                frame = await transport.receive()
                if frame["type"] == "channel_message":
                    received.append(frame)
                    # Its client acknowledges every frame with an event_id.
                    await transport.send({"type": "message_ack", "event_id": frame["event_id"]})
            assert [f["data"] for f in received] == [0, 1, 2]
            assert all(f["channel"] == "alerts" for f in received)
        await transport.send({"type": "channel.unsubscribe", "channel": "alerts"})
        hub = gateway.gateway.hub  # type: ignore[union-attr]
        (connection,) = [c for c in hub.connections.values() if c.client_id == transport.client_id]
        assert connection.subscriptions == {}
    finally:
        await transport.disconnect()
