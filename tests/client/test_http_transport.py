"""The HTTP transports' edges, with respx: every failure retried with backoff or typed."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest
import respx

from praison_push.client.http_transport import (
    PollingTransport,
    SSETransport,
    http_base,
    tls_context,
)
from praison_push.protocol import (
    AuthenticationFailed,
    Backoff,
    ConnectionClosedError,
    TransportError,
)

BASE = "http://gw.test"
URL = "ws://gw.test/ws"
POLL = f"{BASE}/api/push/poll"
FAST = Backoff(initial=0.001, maximum=0.01, jitter=0)


def _batch(messages: list[dict[str, Any]], cursor: int, **extra: Any) -> httpx.Response:
    return httpx.Response(
        200, json={"messages": messages, "poll_interval_hint": 0, "cursor": cursor, **extra}
    )


def _bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


def _transport(**options: Any) -> PollingTransport:
    options.setdefault("backoff", FAST)
    options.setdefault("retry_for", 2.0)
    return PollingTransport(URL, "secret", client_id="me", **options)


@pytest.fixture
def gw() -> Any:
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{POLL}/register").respond(200, json={"client_id": "me", "poll_token": "T"})
        mock.post(f"{POLL}/close").respond(200, json={"ok": True})
        yield mock


def test_http_base_of_websocket_urls() -> None:
    assert http_base("ws://h:1/ws") == "http://h:1"
    assert http_base("wss://h/push/ws?x=1") == "https://h/push"
    assert http_base("http://h:2") == "http://h:2"


async def test_502_503_timeouts_and_resets_are_retried_and_nothing_is_lost(gw: Any) -> None:
    hello = {"type": "connected", "client_id": "me"}
    message = {"type": "channel_message", "channel": "c", "data": 1, "event_id": "e1"}
    messages = gw.post(f"{POLL}/messages").mock(
        side_effect=[
            _batch([hello], 1),
            httpx.Response(502),
            httpx.Response(503),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("peer closed connection"),
            httpx.ConnectError("reset"),
            _batch([message], 2),
        ]
    )
    transport = _transport()
    await transport.connect()
    assert await transport.receive() == hello
    assert await transport.receive() == message
    cursors = [body.get("cursor") for body in _bodies(messages)]
    # Every retry asked with the cursor of the last batch received: a lost answer comes again.
    assert cursors == [None, 1, 1, 1, 1, 1, 1]
    assert messages.calls[0].request.headers["authorization"] == "Bearer secret"
    await transport.disconnect()


async def test_a_malformed_body_is_asked_for_again_with_the_same_cursor(gw: Any) -> None:
    first = {"type": "connected"}
    second = {"type": "channel_message", "data": 2}
    messages = gw.post(f"{POLL}/messages").mock(
        side_effect=[
            _batch([first], 7),
            httpx.Response(200, content=b'{"messages": [ broken'),
            _batch([second], 8),
        ]
    )
    transport = _transport()
    await transport.connect()
    assert [await transport.receive(), await transport.receive()] == [first, second]
    assert [b.get("cursor") for b in _bodies(messages)] == [None, 7, 7]


async def test_an_expired_poll_token_ends_the_connection_with_4002(gw: Any) -> None:
    gw.post(f"{POLL}/messages").respond(
        404, json={"code": "invalid_field", "message": "unknown or expired poll_token"}
    )
    transport = _transport()
    await transport.connect()
    with pytest.raises(ConnectionClosedError) as caught:
        await transport.receive()
    assert caught.value.code == 4002
    assert not transport.is_connected


async def test_failing_past_retry_for_is_a_dropped_connection(gw: Any) -> None:
    route = gw.post(f"{POLL}/messages").respond(503)
    transport = _transport(retry_for=0.05)
    await transport.connect()
    with pytest.raises(ConnectionClosedError) as caught:
        await transport.receive()
    assert caught.value.code is None and "503" in caught.value.reason
    assert route.call_count >= 2  # retried before giving up


async def test_a_closed_session_delivers_its_last_frames_then_closes(gw: Any) -> None:
    last = {"type": "channel_message", "data": "last"}
    gw.post(f"{POLL}/messages").mock(
        return_value=_batch([last], 3, closed={"code": 1013, "reason": "send queue full"})
    )
    transport = _transport()
    await transport.connect()
    assert await transport.receive() == last
    with pytest.raises(ConnectionClosedError) as caught:
        await transport.receive()
    assert caught.value.code == 1013


async def test_register_refusals_are_typed() -> None:
    with respx.mock() as mock:
        mock.post(f"{POLL}/register").respond(401, json={"code": "unauthorized"})
        with pytest.raises(AuthenticationFailed):
            await _transport().connect()
    with respx.mock() as mock:
        mock.post(f"{POLL}/register").mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(TransportError, match="cannot open"):
            await _transport().connect()
    with respx.mock() as mock:
        mock.post(f"{POLL}/register").respond(404, text="not here")
        with pytest.raises(TransportError, match="HTTP 404"):
            await _transport().connect()
    with respx.mock() as mock:
        mock.post(f"{POLL}/register").respond(200, content=b"<html>")
        with pytest.raises(TransportError, match="unreadable"):
            await _transport().connect()


async def test_send_retries_503_and_types_a_gone_session(gw: Any) -> None:
    send = gw.post(f"{POLL}/send").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"ok": True})]
    )
    transport = _transport()
    await transport.connect()
    await transport.send({"type": "ping"})
    assert [b["frames"] for b in _bodies(send)] == [[{"type": "ping"}]] * 2
    send.mock(side_effect=None, return_value=httpx.Response(404, json={"message": "gone"}))
    with pytest.raises(ConnectionClosedError) as caught:
        await transport.send({"type": "ping"})
    assert caught.value.code == 4002


async def test_sse_transport_reads_frames_then_reports_the_stream_end(gw: Any) -> None:
    body = (
        b"retry: 3000\n\n"
        b'event: connected\ndata: {"type":"connected","client_id":"me"}\n\n'
        b": keepalive\n\n"
        b"event: broken\ndata: {nope\n\n"
        b'event: channel_message\ndata: {"type":"channel_message","data":1}\n\n'
    )
    sse = gw.get(f"{BASE}/api/push/sse").respond(
        200, content=body, headers={"content-type": "text/event-stream"}
    )
    transport = SSETransport(URL, "secret", client_id="me", backoff=FAST)
    await transport.connect()
    assert sse.calls[0].request.url.params["poll_token"] == "T"
    assert (await transport.receive())["type"] == "connected"
    assert await transport.receive() == {"type": "channel_message", "data": 1}
    with pytest.raises(ConnectionClosedError) as caught:
        await transport.receive()
    assert caught.value.code is None
    await transport.disconnect()


async def test_sse_transport_splits_lines_only_at_cr_and_lf(gw: Any) -> None:
    # The gateway's JSON keeps U+2028 and U+0085 raw; str.splitlines() (and so httpx's
    # aiter_lines) breaks lines there too, which used to cut such a frame and drop it.
    text = "a\u2028b\x85c"
    body = (
        "retry: 3000\r\n\r\n"
        'id: 7\rdata: {"type":"channel_message","data":"' + text + '"}\r\r'
        ": keepalive\n\n"  # after an id: httpx-sse gives an event without data, skipped
        'data: {"type":"channel_message",\ndata: "data":2}\n\n'
    ).encode()
    gw.get(f"{BASE}/api/push/sse").respond(
        200, content=body, headers={"content-type": "text/event-stream; charset=utf-8"}
    )
    transport = SSETransport(URL, "secret", client_id="me", backoff=FAST)
    await transport.connect()
    assert await transport.receive() == {"type": "channel_message", "data": text}
    assert await transport.receive() == {"type": "channel_message", "data": 2}
    with pytest.raises(ConnectionClosedError):
        await transport.receive()
    await transport.disconnect()


async def test_sse_transport_refuses_a_body_that_is_not_an_event_stream(gw: Any) -> None:
    gw.get(f"{BASE}/api/push/sse").respond(200, html="<html>a login page</html>")
    transport = SSETransport(URL, client_id="me", backoff=FAST)
    with pytest.raises(TransportError, match="not an event stream"):
        await transport.connect()


async def test_sse_transport_refused_stream_is_a_transport_error(gw: Any) -> None:
    gw.get(f"{BASE}/api/push/sse").respond(503)
    transport = SSETransport(URL, client_id="me", backoff=FAST)
    with pytest.raises(TransportError):
        await transport.connect()


async def test_an_execute_is_never_sent_twice_after_an_ambiguous_failure(gw: Any) -> None:
    send = gw.post(f"{POLL}/send").mock(side_effect=httpx.ReadTimeout("slow"))
    transport = _transport()
    await transport.connect()
    with pytest.raises(ConnectionClosedError):
        await transport.send({"type": "execute", "agent_id": "a", "input": "x"})
    assert send.call_count == 1  # the gateway may have started it: not sent again
    send.mock(side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={})])
    transport = _transport()
    await transport.connect()
    await transport.send({"type": "execute", "agent_id": "a", "input": "x"})
    assert send.call_count == 3  # a refused connection never reached it: retried


async def test_a_frame_over_the_gateway_limit_is_refused_locally(gw: Any) -> None:
    from praison_push.protocol import FrameError

    send = gw.post(f"{POLL}/send").respond(200, json={})
    transport = _transport()
    await transport.connect()
    transport.max_message_size = 1024
    with pytest.raises(FrameError, match="max_message_size"):
        await transport.send({"type": "channel.publish", "channel": "c", "data": "x" * 2000})
    assert send.call_count == 0


async def test_reconnecting_transports_share_one_tls_context(
    gw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building a TLS context loads the CA bundle (~20 ms of CPU): once per process,
    not once per (re)connect — httpx would build one even for plain HTTP."""
    built: list[object] = []
    create = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return create(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    tls_context.cache_clear()
    try:
        for _ in range(3):
            transport = _transport()
            await transport.connect()
            await transport.disconnect()
    finally:
        tls_context.cache_clear()
    assert len(built) == 1
