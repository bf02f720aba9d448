"""``Gateway``, the composition root: it builds the backends, agents and hub, and wires them."""

from __future__ import annotations

import json

from praison_push.config import GatewayConfig
from praison_push.hub import ANONYMOUS
from praison_push.protocol import CloseCode
from praison_push.server import Gateway


def test_demo_agents_are_registered_by_the_gateway_when_configured() -> None:
    assert {"echo", "demo-weather", "demo-long"} <= set(Gateway().agents.names())
    assert Gateway(GatewayConfig(demo_agents=False)).agents.names() == []


async def test_a_broker_reconnect_makes_subscribers_recover() -> None:
    gateway = Gateway()
    hub = gateway.hub
    try:
        listener = hub.connect(client_id="listener", principal=ANONYMOUS, peer="127.0.0.1")
        await hub.receive(listener, '{"type":"channel.subscribe","channel":"news"}')
        assert json.loads(listener.drain()[-1])["type"] == "channel.subscribed"
        hook = hub.broker.on_reconnect
        assert hook is not None
        hook()  # what a broker does once it is back after losing its connection
        assert listener.close_code == CloseCode.GOING_AWAY
    finally:
        await hub.close()


def test_the_backend_is_named_by_the_broker() -> None:
    gateway = Gateway()
    assert gateway.backend == "memory"
    assert repr(gateway) == "<Gateway 127.0.0.1:8765 backend=memory>"
