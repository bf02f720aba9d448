"""TransportChooser's decisions, with scripted transports (no network)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from praison_push.client import fallback
from praison_push.client.fallback import FallbackTransport, TransportChooser
from praison_push.protocol import AuthenticationFailed, ConnectionClosedError, TransportError

GREETING = {"type": "connected", "client_id": "c"}


class Scripted:
    """Opens (or fails to), greets, then is cut (or stays)."""

    opened: ClassVar[list[str]] = []
    behaviour: ClassVar[dict[str, str]] = {}

    def __init__(self, url: str, auth_token: str | None, *, client_id: str | None) -> None:
        self.name = type(self).__name__.lower()
        self.greeted = False
        self.kind = self.name

    @property
    def is_connected(self) -> bool:
        return True

    async def connect(self) -> None:
        how = Scripted.behaviour.get(self.name, "ok")
        if how == "refused":
            raise TransportError("refused")
        if how == "auth":
            raise AuthenticationFailed("unauthorized", "no")
        Scripted.opened.append(self.name)

    async def disconnect(self) -> None:
        pass

    async def send(self, data: dict[str, Any]) -> None:
        pass

    async def receive(self) -> dict[str, Any]:
        if not self.greeted:
            self.greeted = True
            return GREETING
        if Scripted.behaviour.get(self.name) == "cut":
            raise ConnectionClosedError(None, "cut")
        await asyncio.Event().wait()
        raise AssertionError


class Websocket(Scripted):
    pass


class Polling(Scripted):
    pass


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fallback.TRANSPORTS, "websocket", Websocket)
    monkeypatch.setitem(fallback.TRANSPORTS, "polling", Polling)
    Scripted.opened = []
    Scripted.behaviour = {}


async def _open(chooser: TransportChooser) -> FallbackTransport:
    transport = chooser("ws://x/ws", None, client_id="c")
    assert isinstance(transport, FallbackTransport)
    await transport.connect()
    assert await transport.receive() == GREETING
    return transport


async def test_a_websocket_cut_right_after_its_greeting_is_skipped_next_time() -> None:
    Scripted.behaviour = {"websocket": "cut"}
    chooser = TransportChooser(["websocket", "polling"], upgrade_interval=None)
    first = await _open(chooser)
    assert first.kind == "websocket"
    with pytest.raises(ConnectionClosedError):
        await first.receive()
    second = await _open(chooser)
    assert second.kind == "polling"  # no second try of the cut WebSocket
    assert Scripted.opened == ["websocket", "polling"]


async def test_a_long_lived_connection_lost_later_is_not_held_against_it() -> None:
    Scripted.behaviour = {"websocket": "cut"}
    chooser = TransportChooser(["websocket", "polling"], fallback_timeout=0.01)
    first = await _open(chooser)
    await asyncio.sleep(0.05)  # more than fallback_timeout
    with pytest.raises(ConnectionClosedError):
        await first.receive()
    assert (await _open(chooser)).kind == "websocket"


async def test_refusals_fall_through_and_credentials_do_not() -> None:
    Scripted.behaviour = {"websocket": "refused"}
    chooser = TransportChooser(["websocket", "polling"], upgrade_interval=None)
    assert (await _open(chooser)).kind == "polling"
    Scripted.behaviour = {"websocket": "auth"}
    with pytest.raises(AuthenticationFailed):
        await chooser("ws://x/ws", None, client_id="c").connect()
    Scripted.behaviour = {"websocket": "refused", "polling": "refused"}
    with pytest.raises(TransportError, match="websocket: refused; polling: refused"):
        await chooser("ws://x/ws", None, client_id="c").connect()


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="fallback_timeout"):
        TransportChooser(["websocket"], fallback_timeout=0)
    with pytest.raises(ValueError, match="transports must be names"):
        TransportChooser(["websocket", "gopher"])
