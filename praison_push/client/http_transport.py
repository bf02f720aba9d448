"""HTTP transports over ``httpx``: long-poll and SSE, for networks that refuse WebSocket.

Both are :class:`~praison_push.client.PushTransportProtocol`\\ s carrying the same
native frames as the WebSocket (PROTOCOL.md §5): ``register`` opens a poll
session of the gateway (a hub connection like any other), frames go up with
``POST /api/push/poll/send`` and come down with ``POST …/messages`` (long-poll)
or ``GET /api/push/sse?poll_token=`` (SSE). One kept-alive ``httpx`` connection
pool per transport.

Failures are retried where that loses nothing: a 502/503, a timeout, a reset
or an unreadable body during a poll is retried with backoff and the same
``cursor`` (the gateway sends a batch that did not arrive again). An expired
session ends the connection with 4002 and the client reconnects (and recovers
from history); a refused token is 4003.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import ssl
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from praison_push.protocol import (
    AuthenticationFailed,
    Backoff,
    CloseCode,
    ConnectionClosedError,
    ErrorCode,
    FrameError,
    NotConnectedError,
    TransportError,
    encode_json,
)

from .urls import redact_url

__all__ = ["PollingTransport", "SSETransport", "http_base"]

logger = logging.getLogger("praison_push.client")

#: Statuses worth retrying: the request did not reach the gateway, or it was busy.
_RETRY_STATUS = frozenset({429, 502, 503, 504})
_RETRY_ERRORS = (httpx.TransportError, json.JSONDecodeError, ValueError)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every transport's own ``httpx`` client shares.

    Building one loads the CA bundle, about 20 ms of CPU, which httpx pays for
    every client it makes — even one that only ever speaks plain HTTP. A
    transport makes its client on each (re)connect, so a client falling back
    to polling, or reconnecting, would pay it every time.
    """
    return httpx.create_ssl_context()


def http_base(url: str) -> str:
    """The gateway's HTTP root for its WebSocket URL: ``ws://h:p/x/ws`` → ``http://h:p/x``."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if path.endswith("/ws"):
        path = path[: -len("/ws")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class PollingTransport:
    """HTTP long-poll: one ``messages`` request waiting on the gateway at a time.

    Args:
        url: The gateway's WebSocket URL (``ws://…/ws``) or its HTTP root.
        auth_token: Sent as ``Authorization: Bearer`` on every request.
        client_id: The client's identity (presence and deliveries follow it).
        poll_timeout: Seconds one poll may wait on the gateway (the gateway caps it at
            its ``long_poll_timeout``).
        request_timeout: Seconds for every other request, and added to a poll's wait.
        retry_for: Seconds a failing poll is retried before the connection counts as lost.
        http: An ``httpx.AsyncClient`` to use (tests: respx); one of its own by default.
    """

    kind: ClassVar[str] = "polling"

    def __init__(
        self,
        url: str,
        auth_token: str | None = None,
        *,
        client_id: str | None = None,
        poll_timeout: float = 30.0,
        request_timeout: float = 10.0,
        retry_for: float = 15.0,
        backoff: Backoff | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = http_base(url)
        self._where = redact_url(self._base)
        self._client_id = client_id
        self._headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self._poll_timeout = poll_timeout
        self._request_timeout = request_timeout
        self._retry_for = retry_for
        self._backoff = backoff or Backoff(initial=0.1, maximum=2.0)
        self._http = http
        self._own_http = http is None
        self._token: str | None = None
        self._closed: ConnectionClosedError | None = None
        self._inbox: list[dict[str, Any]] = []
        self._cursor: int | None = None
        #: The largest frame the gateway accepts (from its greeting), like the WebSocket's.
        self.max_message_size: int | None = None

    def __repr__(self) -> str:
        state = "open" if self.is_connected else "closed"
        return f"<{type(self).__name__} {self._where} {state}>"

    @property
    def is_connected(self) -> bool:
        return self._token is not None and self._closed is None

    # --- lifecycle ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Register a poll session.

        Raises:
            AuthenticationFailed: The gateway refused the token (HTTP 401/403).
            TransportError: The gateway cannot be reached or has no poll routes.
        """
        if self.is_connected:
            return
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._request_timeout, verify=tls_context())
        body = {"client_id": self._client_id} if self._client_id else {}
        try:
            response = await self._post("register", body, self._request_timeout)
        except httpx.TransportError as exc:
            raise TransportError(f"cannot open {self._where}: {_describe(exc)}") from exc
        if response.status_code in (401, 403):
            raise AuthenticationFailed(
                "unauthorized",
                f"{self._where} refused the credentials (HTTP {response.status_code})",
            )
        if response.status_code != 200:
            raise TransportError(
                f"cannot open {self._where}: HTTP {response.status_code} on poll register"
            )
        try:
            self._token = str(response.json()["poll_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"cannot open {self._where}: unreadable register answer") from exc
        logger.debug("%s session open to %s", self.kind, self._where)

    async def disconnect(self) -> None:
        """End the poll session (the gateway forgets it at once) and close the pool."""
        token, self._token = self._token, None
        if self._closed is None:
            self._closed = ConnectionClosedError(CloseCode.NORMAL, "closed by the client")
        http = self._http
        if token is not None and http is not None:
            try:
                await self._post("close", {"poll_token": token}, 2.0)
            except Exception as exc:  # the session expires on its own anyway
                logger.debug("poll close failed: %r", exc)
        if http is not None and self._own_http:
            self._http = None
            await http.aclose()

    # --- frames ------------------------------------------------------------------------

    async def send(self, data: dict[str, Any]) -> None:
        """``POST send`` with this frame; retried on 502/503 and resets.

        Raises:
            NotConnectedError: ``connect()`` was not called.
            ConnectionClosedError: The session is gone (4002) or the token refused (4003).
        """
        token = self._require()
        frame = encode_json(data)
        limit = self.max_message_size
        if limit is not None and len(frame.encode()) > limit:
            raise FrameError(
                ErrorCode.TOO_LARGE,
                f"message too large: {len(frame.encode()):,} bytes, the gateway's limit is "
                f"{limit:,} bytes (LimitsConfig.max_message_size)",
                limit="max_message_size",
            )
        text = '{"poll_token":' + encode_json(token) + ',"frames":[' + frame + "]}"
        # A run is never started twice: after an answer that may hide a delivered
        # request (a timeout, a reset, a proxy's 502/504) it is not sent again.
        once = data.get("type") == "execute"
        response = await self._retrying("send", text, self._request_timeout, once=once)
        if response.status_code != 200:
            raise self._failed(response)

    async def receive(self) -> dict[str, Any]:
        """The next frame: from the last batch, else from the next long poll."""
        while not self._inbox:
            if self._closed is not None:
                raise self._closed
            await self._poll()
        return self._inbox.pop(0)

    async def _poll(self) -> None:
        token = self._require()
        fields: dict[str, Any] = {"poll_token": token, "timeout": self._poll_timeout}
        if self._cursor is not None:
            fields["cursor"] = self._cursor
        wait = self._poll_timeout + self._request_timeout
        response = await self._retrying("messages", encode_json(fields), wait)
        if response.status_code != 200:
            raise self._failed(response)
        body = response.json()
        self._cursor = body.get("cursor")
        messages = body.get("messages") or []
        self._inbox.extend(m for m in messages if isinstance(m, dict))
        closed = body.get("closed")
        if isinstance(closed, dict):
            self._closed = ConnectionClosedError(closed.get("code"), str(closed.get("reason", "")))

    # --- HTTP ---------------------------------------------------------------------------

    def _require(self) -> str:
        if self._closed is not None:
            raise self._closed
        if self._token is None or self._http is None:
            raise NotConnectedError(f"the {self.kind} transport is not connected")
        return self._token

    async def _post(self, route: str, body: Any, timeout: float) -> httpx.Response:
        assert self._http is not None
        content = body if isinstance(body, str) else encode_json(body)
        return await self._http.post(
            f"{self._base}/api/push/poll/{route}",
            content=content,
            headers={**self._headers, "Content-Type": "application/json"},
            timeout=timeout,
        )

    async def _retrying(
        self, route: str, text: str, timeout: float, *, once: bool = False
    ) -> httpx.Response:
        """POST until an answer that is not worth retrying, for at most ``retry_for`` seconds.

        ``once``: retry only what surely never reached the gateway (no connection,
        429/503 from the gateway itself).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._retry_for
        attempt = 0
        while True:
            try:
                response = await self._post(route, text, timeout)
                if response.status_code == 200 and route == "messages":
                    response.json()  # an unreadable body is retried (same cursor: resent)
                if response.status_code not in _RETRY_STATUS:
                    return response
                problem = f"HTTP {response.status_code}"
                if once and response.status_code not in (429, 503):
                    raise ConnectionClosedError(None, f"{route} failed: {problem}")
            except _RETRY_ERRORS as exc:
                problem = _describe(exc)
                if once and not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                    self._closed = ConnectionClosedError(None, f"{route} failed: {problem}")
                    raise self._closed from exc
            delay = self._backoff.delay(attempt, random.random())
            attempt += 1
            if loop.time() + delay > deadline:
                self._closed = ConnectionClosedError(None, f"{route} failed: {problem}")
                raise self._closed
            logger.info("poll %s failed (%s), retrying in %.2fs", route, problem, delay)
            await asyncio.sleep(delay)

    def _failed(self, response: httpx.Response) -> ConnectionClosedError:
        """The error for an answer that ends the session (or refuses one frame)."""
        try:
            error = response.json()
            message = str(error.get("message", ""))
        except ValueError:
            error, message = {}, response.text[:200]
        status = response.status_code
        if status == 404:
            self._closed = ConnectionClosedError(
                CloseCode.IDLE_TIMEOUT, f"poll session gone: {message}"
            )
        elif status in (401, 403):
            self._closed = ConnectionClosedError(CloseCode.AUTH_REQUIRED, message)
        else:
            return ConnectionClosedError(CloseCode.POLICY_VIOLATION, f"HTTP {status}: {message}")
        return self._closed


class SSETransport(PollingTransport):
    """Server-Sent Events down (``GET /api/push/sse?poll_token=``), ``POST send`` up.

    Same arguments as :class:`PollingTransport`. The stream's end is a dropped
    connection (the client reconnects and recovers from history).
    """

    kind: ClassVar[str] = "sse"

    def __init__(self, url: str, auth_token: str | None = None, **options: Any) -> None:
        super().__init__(url, auth_token, **options)
        self._queue: asyncio.Queue[dict[str, Any] | ConnectionClosedError] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._opened: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        if self.is_connected:
            return
        await super().connect()
        loop = asyncio.get_running_loop()
        self._opened = loop.create_future()
        self._reader = loop.create_task(self._read(), name="praison-push-sse")
        try:
            await asyncio.wait_for(asyncio.shield(self._opened), self._request_timeout)
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await super().disconnect()

    async def receive(self) -> dict[str, Any]:
        if self._closed is not None and self._queue.empty():
            raise self._closed
        item = await self._queue.get()
        if isinstance(item, ConnectionClosedError):
            self._closed = item
            raise item
        return item

    async def _read(self) -> None:
        # httpx-sse parses the stream (lines split only at CR/LF, as the SSE rules say);
        # imported here so that importing the client costs nothing more.
        from httpx_sse import aconnect_sse

        assert self._http is not None and self._opened is not None
        opened = self._opened
        ended = ConnectionClosedError(None, "the event stream ended")
        try:
            async with aconnect_sse(
                self._http,
                "GET",
                f"{self._base}/api/push/sse",
                params={"poll_token": self._token or ""},
                headers=dict(self._headers),
                timeout=httpx.Timeout(self._request_timeout, read=None),
            ) as source:
                response = source.response
                content_type = response.headers.get("content-type", "").partition(";")[0]
                if response.status_code != 200 or content_type.strip() != "text/event-stream":
                    await response.aread()
                    ended = (
                        self._failed(response)
                        if response.status_code != 200
                        else ConnectionClosedError(
                            None, f"not an event stream (content-type {content_type!r})"
                        )
                    )
                    if not opened.done():
                        opened.set_exception(TransportError(f"SSE refused: {ended.reason}"))
                    return
                if not opened.done():
                    opened.set_result(None)
                async for event in source.aiter_sse():
                    if not event.data:  # a retry: or id: line alone, or a comment after an id
                        continue
                    try:
                        frame = json.loads(event.data)
                    except ValueError:
                        logger.warning("skipping an unreadable SSE event %r", event.event)
                        continue
                    if isinstance(frame, dict):
                        self._queue.put_nowait(frame)
        except httpx.TransportError as exc:
            ended = ConnectionClosedError(None, f"the event stream broke: {_describe(exc)}")
            if not opened.done():
                opened.set_exception(TransportError(f"cannot open the SSE stream: {ended.reason}"))
        finally:
            if not opened.done():
                opened.set_exception(TransportError("the SSE stream ended before it opened"))
            self._queue.put_nowait(ended)


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
