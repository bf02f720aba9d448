"""The client's parts built on their own, as the driver builds them: their reprs say
what they hold, and a registry's runs end when the client closes."""

from __future__ import annotations

import pytest

from praison_push.client import Backoff, ConnectionClosedError, WebSocketTransport
from praison_push.client.driver import SessionDriver
from praison_push.client.recorder import RunRecorder
from praison_push.client.runs import RunRegistry
from praison_push.client.session import ClientSession


def driver() -> SessionDriver:
    return SessionDriver(
        "ws://gateway.test/ws?token=s3cret",
        "token",
        "me",
        factory=WebSocketTransport,
        auto_reconnect=True,
        request_timeout=1.0,
        backoff=Backoff(),
        max_reconnect_attempts=None,
    )


def test_reprs_name_what_each_part_holds_and_no_secret() -> None:
    parts = driver()
    assert repr(parts) == "<SessionDriver <Connection ws://gateway.test/ws?token=*** idle>>"
    assert repr(parts.requests) == "<Requester 0 pending>"
    assert repr(parts.runs) == "<RunRegistry 0 runs>"
    parts.runs.watch("exec_1", "agent")
    assert repr(parts.runs) == "<RunRegistry 1 runs>"
    assert parts.session.subscriptions == {"executions:exec_1"}  # held for the run
    assert repr(RunRecorder("exec_1")) == "<RunRecorder exec_1 0 events>"


async def test_closing_the_registry_fails_what_waits_and_forgets_every_run() -> None:
    async def no_request(frame: dict[str, object], **_: object) -> dict[str, object]:
        raise AssertionError(f"nothing is sent here, not {frame}")

    registry = RunRegistry(ClientSession(), no_request)
    execution = registry.watch("exec_1")
    assert registry.watch("exec_1") is execution and registry.get("executions:exec_1") is execution
    registry.close(ConnectionClosedError(1000, "bye"))
    assert registry.get("executions:exec_1") is None
    with pytest.raises(ConnectionClosedError, match="1000"):
        await execution.wait()
