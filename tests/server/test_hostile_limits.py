"""Issue 13, finding 6 and Build 4: slowloris, connection attempts per IP, publish rate.

Partial HTTP upgrade requests never timed out: with 1,024 file descriptors the
gateway stopped accepting clients. Every limit here is a ``LimitsConfig`` field.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import pytest
from support import ask, next_frame, raw_client, timeout, works

from praison_push.config import AuthConfig, LimitsConfig, TokenGrant

from .helpers import LogCapture, Serve

PARTIAL_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)


async def _closed_by_peer(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the gateway closes the connection within ``seconds`` (reading all it sends)."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout(seconds)):
            pass
    except asyncio.TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def test_a_partial_upgrade_request_is_closed_after_header_timeout(
    serve: Serve, logs: LogCapture
) -> None:
    gateway = serve(limits=LimitsConfig(header_timeout=0.3))
    async with raw_client(gateway.url) as early:  # opened before: its upgrade completed
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(PARTIAL_UPGRADE)  # …and the blank line never comes
        await writer.drain()
        assert await _closed_by_peer(reader, 5), "a partial upgrade was kept open"
        assert time.monotonic() - started >= 0.3
        writer.close()
        # A WebSocket older than header_timeout is not touched, and new ones connect.
        await works(early)
        async with raw_client(gateway.url) as late:
            await works(late)
    assert "header_timeout" in logs.text()


async def test_a_slow_second_request_on_a_kept_alive_connection_is_closed(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(header_timeout=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout(3))
    assert head.startswith(b"HTTP/1.1 200")
    writer.write(b"GET /health HTTP/1.1\r\nHost: 12")  # keep-alive, then a slow head
    await writer.drain()
    assert await _closed_by_peer(reader, 5)
    writer.close()


async def test_connection_attempts_per_ip_are_limited_and_loopback_is_exempt_by_default(
    serve: Serve,
) -> None:
    limits = LimitsConfig(loopback_exempt=False, connect_burst_per_ip=5, connect_rate_per_ip=0.5)
    gateway = serve(limits=limits)
    held = []
    for _ in range(5):
        held.append(await asyncio.open_connection("127.0.0.1", gateway.port))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    assert await _closed_by_peer(reader, 3)
    writer.close()
    for _, w in held:
        w.close()
    # Loopback is exempt by default: a burst far past the limit connects.
    exempt = serve(limits=LimitsConfig(connect_burst_per_ip=5, connect_rate_per_ip=0.5))
    clients = [raw_client(exempt.url) for _ in range(20)]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            ws = await stack.enter_async_context(client)
        await works(ws)


async def test_publications_past_the_rate_are_rate_limited_with_retry_after(
    serve: Serve,
) -> None:
    gateway = serve(
        limits=LimitsConfig(publish_burst=5, publish_rate=2),
        auth=AuthConfig(tokens=[TokenGrant(token="user-token", user_id="u1"), "ops-token"]),
    )
    async with raw_client(f"{gateway.url}?token=user-token") as ws:
        for n in range(5):
            receipt = await ask(ws, "channel.publish", channel="c", data=n, ref=n)
            assert receipt["type"] == "channel.published", receipt
        refused = await ask(ws, "channel.publish", channel="c", data=5, ref="over")
        assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
        assert refused["ref"] == "over"
        assert refused["details"]["limit"] == "publish_rate"
        assert 0 < refused["details"]["retry_after"] <= 0.5
        await works(ws)  # the connection survives; other frames are not limited
        await asyncio.sleep(refused["details"]["retry_after"])  # the wait it was told
        receipt = await ask(ws, "channel.publish", channel="c", data=6)
        assert receipt["type"] == "channel.published", receipt
    # The deployment's own services (a static token without a user) are not limited.
    async with raw_client(f"{gateway.url}?token=ops-token") as ops:
        for n in range(20):
            receipt = await ask(ops, "channel.publish", channel="c", data=n, ref=n)
            assert receipt["type"] == "channel.published", receipt


def _fd_limited_gateway(limit: int) -> tuple[object, int]:
    import subprocess
    import sys

    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))\n"
        "from praison_push.config import GatewayConfig, LimitsConfig\n"
        "from praison_push.server.runner import run_gateway\n"
        "run_gateway(GatewayConfig(port=int(sys.argv[1]), demo_agents=False,"
        " limits=LimitsConfig(header_timeout=0.5)),"
        " on_ready=lambda url: print('READY', flush=True), log_level='info')\n"
    )
    from redis_support import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert b"READY" in line, process.stderr.read() if process.stderr else line
    return process, port


@pytest.mark.timeout(60)
async def test_running_out_of_file_descriptors_neither_floods_the_log_nor_lasts(
    tmp_path: object, report: Callable[[str], None]
) -> None:
    """With 128 descriptors, 200 slowloris sockets: EMFILE is logged a few times (no
    traceback), the partial requests time out and a legitimate client then connects.

    asyncio retries ``accept()`` a second after EMFILE: 200 sockets (the backlog holding
    those past the descriptors) and a header_timeout under that second make one round
    of timeouts, not the three of 300 sockets."""
    import subprocess

    process, port = _fd_limited_gateway(128)
    assert isinstance(process, subprocess.Popen)
    socks: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            sock.sendall(PARTIAL_UPGRADE)
            socks.append(sock)
        deadline = time.monotonic() + timeout(15)
        connected = False
        while time.monotonic() < deadline and not connected:
            with contextlib.suppress(Exception):
                async with raw_client(f"ws://127.0.0.1:{port}/ws", open_timeout=1) as ws:
                    await works(ws)
                    connected = True
        assert connected, "no legitimate client got in once the slowloris sockets timed out"
        # A second flood, and a shutdown while asyncio's accept() retries are pending:
        # each would run on the closed socket and log a traceback (thousands of them).
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
            sock.sendall(PARTIAL_UPGRADE)
            socks.append(sock)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
        for sock in socks:
            sock.close()
    log = stderr.decode(errors="replace")
    emfile = log.count("out of system resource")
    report(
        f"200 + 300 slowloris sockets on 128 fds: {len(log)} bytes of log, {emfile} EMFILE records"
    )
    assert "Traceback" not in log
    assert 1 <= emfile <= 3  # the descriptors ran out, and that was logged, a few times
    assert len(log) < 100_000


async def test_the_package_client_waits_out_rate_limited_and_publishes_each_once(
    serve: Serve,
) -> None:
    from praison_push.client import AsyncPushClient
    from praison_push.protocol import RequestRefused

    user = AuthConfig(tokens=[TokenGrant(token="user-token", user_id="u1")])
    gateway = serve(limits=LimitsConfig(publish_burst=3, publish_rate=20), auth=user)
    async with raw_client(f"{gateway.url}?token=user-token") as reader:
        await ask(reader, "channel.subscribe", channel="c")
        async with AsyncPushClient(gateway.url, auth_token="user-token") as client:
            receipts = [await client.publish("c", n) for n in range(10)]
        assert [r.offset for r in receipts] == list(range(1, 11))  # each published once
        await reader.send('{"type":"channel.history","channel":"c","ref":"h"}')
        history = await next_frame(reader)
        while history.get("ref") != "h":
            history = await next_frame(reader)
        assert [m["data"] for m in history["messages"]] == list(range(10))
    slow = serve(limits=LimitsConfig(publish_burst=1, publish_rate=0.01), auth=user)
    async with AsyncPushClient(slow.url, auth_token="user-token", request_timeout=0.5) as client:
        await client.publish("c", 0)
        with pytest.raises(RequestRefused) as refused:
            await client.publish("c", 1)  # 100 s to wait: past request_timeout
        assert refused.value.code == "rate_limited"
        assert refused.value.details["retry_after"] > 0.5


async def test_a_trickling_request_body_is_answered_408_after_body_timeout(serve: Serve) -> None:
    gateway = serve(limits=LimitsConfig(body_timeout=0.3))
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        b"POST /v1/agents/echo/execute/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"inp'
    )
    await writer.drain()  # ... and the other 95 bytes never come
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout(5))
    assert head.startswith(b"HTTP/1.1 408"), head
    writer.close()
