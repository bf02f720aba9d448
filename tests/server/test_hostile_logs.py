"""Issue 13, finding 7: no traceback for client input, no log floods, no token in any log.

Invalid UTF-8 before authentication logged a traceback per attempt (300 in
0.3 s); at ``DEBUG`` uvicorn and websockets logged the ``Authorization`` header
and auth frames; ``/health?token=`` reached the access log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from support import dial, expect, http_client, raw_client, works
from websockets.exceptions import ConnectionClosed

from praison_push.config import AuthConfig, GatewayConfig, LimitsConfig
from praison_push.server import GatewayThread

from .helpers import LogCapture, Serve

SECRET = "s3cret-Tok3n-value"
JWT_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"


async def _invalid_utf8_before_auth(url: str) -> None:
    try:
        async with dial(url) as ws:
            await ws.send(b'{"type":"auth","token":"\xff\xfe"}', text=True)
            await asyncio.wait_for(ws.recv(), 5)
    except (ConnectionClosed, OSError):
        pass


async def test_invalid_utf8_before_auth_logs_no_traceback_and_once_per_interval(
    serve: Serve, logs: LogCapture, report: Callable[[str], None]
) -> None:
    gateway = serve(
        GatewayConfig(
            auth=AuthConfig(tokens=[SECRET]), limits=LimitsConfig(client_error_log_interval=60)
        )
    )
    for _ in range(6):
        await asyncio.gather(*(_invalid_utf8_before_auth(gateway.url) for _ in range(50)))
    utf8 = [r for r in logs.records if "UTF-8" in r.getMessage()]
    refusals = [r for r in logs.records if "refused a connection" in r.getMessage()]
    report(f"300 attempts: {len(utf8)} UTF-8 record(s), {len(refusals)} refusal record(s)")
    assert 1 <= len(utf8) <= 2, [r.getMessage() for r in utf8]
    assert len(refusals) <= 2
    assert not [r for r in logs.records if r.exc_info or r.exc_text]
    assert not logs.tracebacks()
    # The gateway still serves a legitimate client.
    async with raw_client(gateway.url + f"?token={SECRET}") as ws:
        await works(ws)


@pytest.fixture
def debug_logs(logs: LogCapture) -> Iterator[LogCapture]:
    names = ("websockets", "websockets.client", "websockets.server", "uvicorn.access")
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield logs
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


async def test_no_token_reaches_any_log_even_at_debug(debug_logs: LogCapture) -> None:
    config = GatewayConfig(port=0, auth=AuthConfig(tokens=[SECRET, JWT_LIKE]))
    gateway = GatewayThread(config, log_level="debug", access_log=True).start()
    try:
        debug_logs.attach(uvicorn_level=logging.DEBUG)
        logging.getLogger("uvicorn.access").setLevel(logging.DEBUG)
        headers = {"Authorization": f"Bearer {SECRET}"}
        async with raw_client(gateway.url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "auth", "token": SECRET, "ref": 1}))
            await expect(ws, "connected")
        async with raw_client(gateway.url + f"?token={JWT_LIKE}&client_id=c1") as ws:
            await works(ws)
        async with dial(gateway.url + "?protocol=envelope") as ws:
            await ws.send(json.dumps({"type": "auth", "payload": {"token": JWT_LIKE}}))
            await asyncio.wait_for(ws.recv(), 5)
        async with dial(gateway.url) as ws:  # a bad token is not logged either
            await ws.send(json.dumps({"type": "auth", "token": SECRET + "-wrong"}))
            await asyncio.wait_for(ws.recv(), 5)
        async with http_client() as http:
            health = await http.get(f"{gateway.http_url}/health?token={SECRET}", headers=headers)
            assert health.status_code == 200
            assert SECRET not in health.text
            await http.post(
                f"{gateway.http_url}/v1/agents/echo/execute/stream?token={SECRET}",
                json={"input": "hi"},
            )
    finally:
        gateway.stop()
    text = debug_logs.text()
    assert "authorization" in text.lower()  # the header lines are there, redacted
    assert "[redacted]" in text
    for secret in (SECRET, JWT_LIKE, JWT_LIKE.split(".")[2], SECRET[:10]):
        assert secret not in text, [line for line in text.splitlines() if secret in line][:5]


async def test_the_package_client_keeps_its_token_out_of_websockets_debug_log(
    serve: Serve, debug_logs: LogCapture
) -> None:
    from praison_push.client import AsyncPushClient

    gateway = serve(GatewayConfig(auth=AuthConfig(tokens=[SECRET])))
    client_logger = logging.getLogger("websockets.client")
    saved = list(client_logger.filters)
    for installed in saved:
        client_logger.removeFilter(installed)  # as in a process that serves nothing
    try:
        async with AsyncPushClient(gateway.url, auth_token=SECRET) as client:
            await client.publish("c", {"n": 1})
    finally:
        for installed in saved:
            if installed not in client_logger.filters:
                client_logger.addFilter(installed)
    client_lines = [r.getMessage() for r in debug_logs.records if r.name == "websockets.client"]
    assert any("authorization" in line.lower() for line in client_lines)
    assert not [line for line in client_lines if SECRET in line]


async def test_no_token_in_reprs_or_error_frames(serve: Serve) -> None:
    from praison_push.config import TokenGrant

    config = GatewayConfig(
        auth=AuthConfig(tokens=[SECRET, TokenGrant(token=JWT_LIKE, user_id="u", org_id="o")])
    )
    gateway = serve(config)
    shown = " ".join(
        repr(thing)
        for thing in (config, config.auth, gateway, gateway.gateway, gateway.gateway.hub)  # type: ignore[union-attr]
    )
    assert SECRET not in shown and JWT_LIKE not in shown
    # (An unknown frame type is named back to its own sender: that is no leak.)
    for frame in (
        {"type": "channel.publish", "channel": SECRET + "!", "data": 1},
        {"type": "auth", "token": {"nested": SECRET}},
        {"type": "auth", "token": SECRET + "x"},  # refused and closed: last
    ):
        async with raw_client(f"{gateway.url}?token={SECRET}") as ws:
            await ws.send(json.dumps(frame))
            reply = str(await asyncio.wait_for(ws.recv(), 5))
            assert SECRET not in reply, reply
            assert ws.close_reason is None or SECRET not in ws.close_reason


async def test_invalid_utf8_text_arriving_with_the_close_logs_no_fatal_error(
    serve: Serve, logs: LogCapture
) -> None:
    """Found by the fuzz test: a bad text frame and the client's close in one read made
    uvicorn's handler fail ("connection is closing") and asyncio log a fatal error."""
    gateway = serve()
    for _ in range(3):
        async with dial(gateway.url) as ws:
            protocol = ws.protocol
            protocol.send_text(b'{"type":"ping","id":"\xff"}')
            protocol.send_close(1000)
            ws.transport.write(b"".join(protocol.data_to_send()))  # one write, one read
            with contextlib.suppress(ConnectionClosed, asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 3)
        async with raw_client(gateway.url) as ws:  # bad text alone: 1007
            await ws.send(b"\xff", text=True)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 3)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    assert not logs.tracebacks(), [r.getMessage() for r in logs.tracebacks()]
    assert not [r for r in logs.records if r.exc_info or "Fatal error" in r.getMessage()]
