"""The connection supervisor on its own: one state, its transitions, and the hooks it calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from support import WAIT, Recorder, timeout, wait_until

from praison_push.client import AuthenticationFailed, Backoff, NotConnectedError, TransportError
from praison_push.client.connection import Connection, ConnectionHooks, ConnectionState
from praison_push.testing import (
    MemoryTransport,
    MemoryTransportFactory,
    ScriptedGateway,
    greeting,
)

State = ConnectionState


class Hooks:
    """Records every hook call as ``(name, state at the time, arguments...)``."""

    def __init__(self) -> None:
        self.calls = Recorder()
        self.connection: Connection | None = None

    def hook(self, name: str) -> Any:
        def record(*args: Any) -> None:
            assert self.connection is not None
            self.calls((name, self.connection.state, *args))

        return record

    async def restore(self, generation: int) -> None:
        self.hook("restore")(generation)

    async def heartbeat(self) -> None:
        self.hook("heartbeat")()

    def build(self) -> ConnectionHooks:
        return ConnectionHooks(
            connecting=self.hook("connecting"),
            opened=self.hook("opened"),
            frame=self.hook("frame"),
            restore=self.restore,
            heartbeat=self.heartbeat,
            lost=self.hook("lost"),
            reconnecting=self.hook("reconnecting"),
            closed=self.hook("closed"),
        )

    def names(self) -> list[str]:
        return [call[0] for call in self.calls.calls]


def make(factory: Callable[..., Any], **options: Any) -> tuple[Connection, Hooks]:
    hooks = Hooks()
    options.setdefault("auto_reconnect", True)
    options.setdefault("max_reconnect_attempts", None)
    connection = Connection(
        "ws://gateway.test/ws?token=s3cret",
        "token",
        "me",
        factory=factory,
        hooks=hooks.build(),
        open_timeout=WAIT,
        backoff=Backoff(initial=0.001, maximum=0.002, jitter=0.0),
        **options,
    )
    hooks.connection = connection
    return connection, hooks


async def test_a_connection_goes_from_idle_to_open_to_reconnecting_and_back() -> None:
    factory = MemoryTransportFactory(responder=ScriptedGateway())
    connection, hooks = make(factory)
    assert connection.state is State.IDLE and not connection.is_open
    assert "call connect() first" in connection.why_not_connected()
    await connection.wait_closed()  # nothing to wait for before the first open()
    await connection.open()
    assert connection.state is State.OPEN and connection.generation == 1
    await hooks.calls.wait(3)
    assert hooks.calls.calls[:3] == [
        ("connecting", State.CONNECTING),
        ("opened", State.OPEN, greeting("me")),
        ("restore", State.OPEN, 1),
    ]
    await connection.open()  # a no-op while open
    assert len(factory.transports) == 1

    factory.last.close(1012, "restart")
    await wait_until(lambda: connection.generation == 2 and connection.is_open)
    # The restore hook runs as its own task once the connection is open again.
    await hooks.calls.wait(7)
    names = hooks.names()
    assert names[3:] == ["lost", "reconnecting", "opened", "restore"]
    assert hooks.calls.calls[3] == ("lost", State.RECONNECTING, 1, 1012, "restart")
    assert "s3cret" not in repr(connection) and "open" in repr(connection)
    await connection.close()
    assert connection.state is State.CLOSED
    assert hooks.calls.calls[-2:] == [
        ("lost", State.CLOSING, 2, 1000, "disconnected by client"),
        ("closed", State.CLOSED, 1000, "disconnected by client"),
    ]
    await connection.wait_closed()
    assert "code=1000" in connection.why_not_connected()


async def test_a_terminal_close_ends_in_closed_without_dialling_again() -> None:
    factory = MemoryTransportFactory(responder=ScriptedGateway())
    connection, hooks = make(factory)
    await connection.open()
    factory.last.close(4008, "too many")
    await connection.wait_closed()
    assert (connection.state, connection.close_code, connection.close_reason) == (
        State.CLOSED,
        4008,
        "too many",
    )
    assert "reconnecting" not in hooks.names() and len(factory.transports) == 1
    await connection.close()  # closed already: a no-op
    assert hooks.names().count("closed") == 1


async def test_a_failed_open_closes_and_a_later_open_starts_afresh() -> None:
    factory = MemoryTransportFactory(
        greet=lambda _: {"type": "hello_error", "code": "auth_required", "message": "no"}
    )
    connection, hooks = make(factory)
    with pytest.raises(AuthenticationFailed):
        await connection.open()
    assert connection.state is State.CLOSED and connection.close_code is None
    assert hooks.names() == ["connecting", "closed"]
    factory.greet = greeting
    await connection.open()
    assert connection.is_open and connection.close_reason == ""
    await connection.close()


async def test_sending_needs_an_open_connection() -> None:
    factory = MemoryTransportFactory(responder=ScriptedGateway())
    connection, _ = make(factory, auto_reconnect=False)
    with pytest.raises(NotConnectedError):
        await connection.send({"type": "ping"})
    await connection.open()
    await connection.send({"type": "channel.list", "ref": 1})
    assert factory.last.sent_of("channel.list") == [{"type": "channel.list", "ref": 1}]
    factory.last.close(1006)
    await connection.wait_closed()  # no auto-reconnect: any drop is final
    with pytest.raises(NotConnectedError):
        await connection.send({"type": "ping"})


async def test_giving_up_after_the_last_attempt_closes_with_the_drop_code() -> None:
    factory = MemoryTransportFactory(connect_errors=[None, TransportError("down")])
    connection, hooks = make(factory, max_reconnect_attempts=1)
    await connection.open()
    factory.last.close(1006)
    await connection.wait_closed()
    assert (connection.close_code, connection.close_reason) == (
        1006,
        "gave up after 1 reconnect attempts",
    )
    assert hooks.names()[-3:] == ["lost", "reconnecting", "closed"]


class SwallowingTransport(MemoryTransport):
    """A dial that is cancelled but does not say so, as Python 3.11's ``wait_for`` can:
    a cancel that lands as the awaited result is ready is lost, and a timeout racing a
    cancel surfaces as ``TimeoutError``. ``connects`` decides which of the two it mimics."""

    def __init__(self, *, connects: bool, **options: Any) -> None:
        super().__init__(**options)
        self.connects = connects
        self.dialling = asyncio.Event()

    async def connect(self) -> None:
        self.dialling.set()
        try:
            await asyncio.Event().wait()  # a gateway slow to answer
        except asyncio.CancelledError:
            if not self.connects:
                raise TransportError("timed out") from None  # the cancel became an error
        await super().connect()  # ...or the answer won the race: the dial "succeeded"


@pytest.mark.parametrize("connects", [False, True], ids=["as-an-error", "as-a-success"])
async def test_close_ends_a_reconnect_whose_cancellation_was_swallowed(connects: bool) -> None:
    """CI once saw a client's disconnect() wait for ever: closing while it reconnected."""
    factory = MemoryTransportFactory(responder=ScriptedGateway())
    swallowing = SwallowingTransport(connects=connects, greeting=greeting("me"))
    dials: list[MemoryTransport] = []

    def dial(url: str, auth_token: str | None, *, client_id: str) -> MemoryTransport:
        if not factory.transports:
            return factory(url, auth_token, client_id=client_id)
        # The first reconnect swallows its cancel; any later one fails plainly.
        dials.append(
            MemoryTransport(connect_error=TransportError("refused")) if dials else swallowing
        )
        return dials[-1]

    connection, _hooks = make(dial)
    await connection.open()
    factory.last.close(1012, "restart")
    await wait_until(swallowing.dialling.is_set)
    # Closing cancels the reconnect, which must end even though the cancel went astray.
    await asyncio.wait_for(connection.close(), timeout(5))
    assert connection.state is State.CLOSED
    assert (connection.close_code, connection.close_reason) == (1000, "disconnected by client")
    assert not connection.is_open and connection.transport is None
    assert dials == [swallowing]  # no dial after the close
