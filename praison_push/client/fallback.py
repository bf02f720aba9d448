"""Choosing a transport: WebSocket first, HTTP when it is refused or cut, and back.

:class:`TransportChooser` is the client's :class:`~.transport.TransportFactory`
when ``fallback_to_polling`` (or ``transports=[…]``) is given. Each connection
attempt tries the transports in order, each within ``fallback_timeout`` (the
WebSocket must open *and* greet in that time, so a proxy that accepts the
upgrade and then cuts or stalls it counts as refusing it). While a later
transport is in use, the better one is tried again every ``upgrade_interval``;
once it works, the current connection ends with 1012 and the client reconnects
over it — resubscribing from its last offsets and de-duplicating by
``event_id``, so the switch loses and repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from praison_push.protocol import AuthenticationFailed, ConnectionClosedError, TransportError

from .http_transport import PollingTransport, SSETransport
from .transport import PushTransportProtocol, TransportFactory
from .websocket import WebSocketTransport

__all__ = [
    "TRANSPORTS",
    "FallbackTransport",
    "TransportChooser",
    "choose_factory",
    "transport_kind",
]

logger = logging.getLogger("praison_push.client")

Builder = Callable[..., PushTransportProtocol]

#: The transports the client knows by name.
TRANSPORTS: dict[str, Builder] = {
    "websocket": WebSocketTransport,
    "sse": SSETransport,
    "polling": PollingTransport,
}

#: Close code of a connection ended to move to a better transport (service restart).
UPGRADE_CLOSE_CODE = 1012
#: Closes that say nothing against the transport (normal, going away, upgrade, auth).
_DELIBERATE = frozenset({1000, 1001, UPGRADE_CLOSE_CODE, 4001, 4003})


def transport_kind(transport: object) -> str:
    """``websocket``, ``sse``, ``polling``, or a custom transport's class name."""
    kind = getattr(transport, "kind", None)
    if isinstance(kind, str):
        return kind
    if isinstance(transport, WebSocketTransport):
        return "websocket"
    return type(transport).__name__


class TransportChooser:
    """A transport factory trying ``order`` in turn (names of :data:`TRANSPORTS`).

    Args:
        order: e.g. ``["websocket", "polling"]``; one name forces that transport.
        fallback_timeout: Seconds each transport has to open and greet.
        upgrade_interval: Seconds between tries of a better transport (``None``: never).
        options: Per-name keyword arguments for the transports' constructors.
    """

    def __init__(
        self,
        order: Sequence[str],
        *,
        fallback_timeout: float = 5.0,
        upgrade_interval: float | None = 10.0,
        options: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        unknown = [name for name in order if name not in TRANSPORTS]
        if not order or unknown:
            raise ValueError(
                f"transports must be names among {sorted(TRANSPORTS)}, got {list(order)!r}"
            )
        if fallback_timeout <= 0:
            raise ValueError("fallback_timeout must be > 0")
        self.order = list(dict.fromkeys(order))
        self.fallback_timeout = fallback_timeout
        self.upgrade_interval = upgrade_interval
        self.options = options or {}
        #: Transport name → loop time until which it is skipped (it was cut right after
        #: opening: a proxy that lets the upgrade through and then kills the traffic).
        self.avoid: dict[str, float] = {}

    def avoided(self, name: str, now: float) -> bool:
        return self.avoid.get(name, 0.0) > now

    def build(self, name: str, url: str, auth_token: str | None, client_id: str | None) -> Any:
        return TRANSPORTS[name](url, auth_token, client_id=client_id, **self.options.get(name, {}))

    def __call__(
        self, url: str, auth_token: str | None, *, client_id: str
    ) -> PushTransportProtocol:
        return FallbackTransport(self, url, auth_token, client_id)


class FallbackTransport:
    """One connection over the first transport of the chooser's order that works."""

    def __init__(
        self, chooser: TransportChooser, url: str, auth_token: str | None, client_id: str
    ) -> None:
        self._chooser = chooser
        self._url, self._auth_token, self._client_id = url, auth_token, client_id
        self._inner: Any = None
        self._first: dict[str, Any] | None = None
        self._upgrade: asyncio.Task[None] | None = None
        self._upgraded = asyncio.Event()
        self._name = ""
        self._opened_at = 0.0
        self.max_message_size: int | None = None

    def __repr__(self) -> str:
        return f"<FallbackTransport {self.kind} {self._inner!r}>"

    @property
    def kind(self) -> str:
        return transport_kind(self._inner) if self._inner is not None else "none"

    @property
    def is_connected(self) -> bool:
        return self._inner is not None and bool(self._inner.is_connected)

    async def connect(self) -> None:
        """Open the first transport that opens and greets within ``fallback_timeout``.

        Raises:
            AuthenticationFailed: The gateway refused the credentials (not retried elsewhere).
            TransportError: No transport worked (the message names each failure).
        """
        problems: list[str] = []
        chooser = self._chooser
        now = asyncio.get_running_loop().time()
        candidates = [n for n in chooser.order if not chooser.avoided(n, now)] or chooser.order
        for name in candidates:
            index = chooser.order.index(name)
            transport = chooser.build(name, self._url, self._auth_token, self._client_id)
            try:
                first = await asyncio.wait_for(
                    _open_and_greet(transport), self._chooser.fallback_timeout
                )
            except AuthenticationFailed:
                await _quietly_close(transport)
                raise
            except (TransportError, asyncio.TimeoutError, OSError) as exc:
                await _quietly_close(transport)
                problems.append(f"{name}: {_describe(exc)}")
                logger.info("transport %s failed (%s), trying the next", name, _describe(exc))
                continue
            self._inner, self._first = transport, first
            self._name, self._opened_at = name, asyncio.get_running_loop().time()
            if index > 0 and self._chooser.upgrade_interval is not None:
                better = self._chooser.order[:index]
                self._upgrade = asyncio.get_running_loop().create_task(
                    self._try_upgrade(better), name="praison-push-upgrade"
                )
            return
        raise TransportError("no transport could connect: " + "; ".join(problems))

    async def disconnect(self) -> None:
        upgrade, self._upgrade = self._upgrade, None
        if upgrade is not None:
            upgrade.cancel()
            await asyncio.gather(upgrade, return_exceptions=True)
        if self._inner is not None:
            await self._inner.disconnect()

    async def send(self, data: dict[str, Any]) -> None:
        if self._inner is None:
            from praison_push.protocol import NotConnectedError

            raise NotConnectedError("no transport is connected")
        limit = self.max_message_size
        if limit is not None and hasattr(self._inner, "max_message_size"):
            self._inner.max_message_size = limit
        await self._inner.send(data)

    async def receive(self) -> dict[str, Any]:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        inner = self._inner
        if inner is None:
            raise ConnectionClosedError(None, "not connected")
        if self._upgrade is None:
            try:
                return await inner.receive()  # type: ignore[no-any-return]
            except TransportError as exc:
                self._note_early_loss(exc)
                raise
        if self._upgraded.is_set():
            raise ConnectionClosedError(UPGRADE_CLOSE_CODE, "switching to a better transport")
        receiving = asyncio.ensure_future(inner.receive())
        upgraded = asyncio.ensure_future(self._upgraded.wait())
        try:
            await asyncio.wait({receiving, upgraded}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            upgraded.cancel()
            if not receiving.done():
                receiving.cancel()  # a poll cut short is answered again (same cursor)
        if receiving.done() and not receiving.cancelled():
            return receiving.result()  # type: ignore[no-any-return]
        raise ConnectionClosedError(UPGRADE_CLOSE_CODE, "switching to a better transport")

    def _note_early_loss(self, exc: TransportError) -> None:
        """A connection lost soon after it opened (not closed by either side on purpose):
        skip its transport for ``upgrade_interval``, so the next attempt falls back at
        once instead of opening it again and again; the upgrade probe retries it later."""
        chooser = self._chooser
        code = getattr(exc, "code", None)
        if code in _DELIBERATE or self._name == chooser.order[-1]:
            return
        now = asyncio.get_running_loop().time()
        if now - self._opened_at < chooser.fallback_timeout:
            logger.info("%s was cut right after opening: falling back", self._name)
            chooser.avoid[self._name] = now + (chooser.upgrade_interval or 10.0)

    async def _try_upgrade(self, better: list[str]) -> None:
        """Probe the better transports until one opens; then end this connection (1012)."""
        interval = self._chooser.upgrade_interval or 10.0
        while True:
            await asyncio.sleep(interval)
            for name in better:
                # A throwaway identity: the probe must not take this client's deliveries.
                probe = self._chooser.build(name, self._url, self._auth_token, None)
                try:
                    await asyncio.wait_for(_open_and_greet(probe), self._chooser.fallback_timeout)
                except Exception as exc:
                    logger.debug("upgrade to %s not possible yet: %s", name, _describe(exc))
                    continue
                finally:
                    await _quietly_close(probe)
                logger.info("%s works again: switching to it", name)
                self._chooser.avoid.pop(name, None)
                self._upgraded.set()
                return


async def _open_and_greet(transport: Any) -> dict[str, Any]:
    """Connect and read the first frame (a WebSocket cut after the upgrade fails here)."""
    await transport.connect()
    first: dict[str, Any] = await transport.receive()
    return first


async def _quietly_close(transport: Any) -> None:
    try:
        await transport.disconnect()
    except Exception as exc:
        logger.debug("error while closing a transport: %r", exc)


def choose_factory(
    factory: TransportFactory | None, transports: Sequence[str] | None, fallback: bool
) -> TransportFactory:
    """The transport factory a client's options ask for: the one given, else a
    :class:`TransportChooser` over ``transports`` (or WebSocket then long-poll
    when ``fallback``), else plain WebSocket."""
    if factory is not None and transports is not None:
        raise ValueError("give transport_factory or transports, not both")
    if factory is not None:
        return factory
    if transports is not None or fallback:
        return TransportChooser(["websocket", "polling"] if transports is None else transports)
    return WebSocketTransport


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no greeting in time"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__
