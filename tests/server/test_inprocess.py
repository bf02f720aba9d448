"""The in-process gateway: one call, idempotent, token generated, stopped at exit."""

from __future__ import annotations

import pytest
from support import timeout

from praison_push.config import AuthConfig, GatewayConfig
from praison_push.protocol import AuthenticationFailed
from praison_push.server import InProcessGateway, inprocess, running_gateways, start_in_process
from praison_push.sync import PushClient


@pytest.fixture
def gateway() -> InProcessGateway:  # type: ignore[misc]
    gw = start_in_process()
    yield gw
    gw.stop()


def test_start_returns_a_running_gateway_with_a_generated_token(gateway: InProcessGateway) -> None:
    assert gateway.running and gateway.url.startswith("ws://127.0.0.1:")
    assert gateway.http_url == gateway.url.replace("ws://", "http://").removesuffix("/ws")
    assert len(gateway.token) >= 24
    with PushClient(gateway.url, auth_token=gateway.token) as client:
        assert client.publish("alerts", {"x": 1}).delivered == 0
        assert gateway.stats()["connections"] == 1
    with pytest.raises(AuthenticationFailed):
        PushClient(gateway.url, auth_token="wrong", auto_reconnect=False).connect()


def test_calling_again_returns_the_running_gateway(gateway: InProcessGateway) -> None:
    assert start_in_process() is gateway
    assert gateway in running_gateways()
    other = start_in_process(token="fixed")
    try:
        assert other is not gateway and other.token == "fixed"
    finally:
        other.stop()
    assert other not in running_gateways()


def test_config_tokens_are_kept_and_port_is_honoured() -> None:
    config = GatewayConfig(auth=AuthConfig(tokens=["team-token"]))
    with start_in_process(config=config) as gw:
        assert gw.port > 0 and gw.config.port == 0
        with PushClient(gw.url, auth_token="team-token") as client:
            assert client.is_connected
        with PushClient(gw.url, auth_token=gw.token) as client:
            assert client.is_connected
    assert not gw.running


def test_repr_never_shows_the_token(gateway: InProcessGateway) -> None:
    html = gateway._repr_html_()
    assert "running" in html and gateway.url in html and gateway.token not in html
    assert gateway.token not in repr(gateway)
    gateway.stop()
    assert "stopped" in gateway._repr_html_()
    assert gateway.stats() == {"connections": 0, "channels": 0, "runs": 0}
    with pytest.raises(RuntimeError, match="not running"):
        _ = gateway.gateway


def test_agents_can_be_registered(gateway: InProcessGateway) -> None:
    @gateway.agent("shout")
    def shout(text: str) -> str:
        return text.upper()

    gateway.register_agent("whisper", lambda text: text.lower())
    assert {"shout", "whisper"} <= set(gateway.gateway.hub.agents.names())


def test_atexit_stops_everything() -> None:
    gw = start_in_process(token="atexit")
    inprocess._stop_all()
    assert not gw.running
    assert timeout(1) > 0
