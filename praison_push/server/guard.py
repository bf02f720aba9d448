"""The door of a served gateway: connection attempts per IP and the request-head timeout.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but waits
forever for the head of a request that is still arriving, so a client sending
one header byte a minute (slowloris) holds a file descriptor for good; a few
thousand of them and the gateway cannot accept anyone. :func:`guarded_http_protocol`
wraps uvicorn's HTTP protocol class so that

* a connection whose request head (a WebSocket upgrade included) is not
  complete within ``LimitsConfig.header_timeout`` is closed — measured from the
  connection, or from the first byte of a later request on a kept-alive one;
* a new TCP connection from an IP past ``connect_rate_per_ip`` /
  ``connect_burst_per_ip`` is closed at once, before any parsing (loopback peers
  are exempt while ``loopback_exempt``).

Both happen before the ASGI app runs, so they hold for every route. A gateway
mounted in another server relies on that server (or its proxy) for them.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import time
from typing import Any

from ..config import LimitsConfig
from ..hub.limits import AttemptLimiter

__all__ = ["guarded_http_protocol"]

logger = logging.getLogger("praison_push.server")


class _Door:
    """What every connection of one server shares: its limits and the attempt table."""

    def __init__(self, limits: LimitsConfig) -> None:
        self.header_timeout = limits.header_timeout
        self.attempts = AttemptLimiter(
            limits.connect_rate_per_ip,
            limits.connect_burst_per_ip,
            exempt_loopback=limits.loopback_exempt,
        )
        self.refused = 0
        self.timed_out = 0


class _GuardedHTTP:
    """Mixed in before uvicorn's HTTP protocol class (h11 or httptools)."""

    _door: _Door
    # uvicorn's protocol attributes this mixin reads.
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle: Any = None
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        door = self._door
        retry_after = door.attempts.attempt(address, time.monotonic())
        if retry_after:
            door.refused += 1
            logger.warning(
                "refused connections from %s: connect_rate_per_ip=%g reached",
                address,
                door.attempts.rate,
                extra={"client_error": True},
            )
            transport.abort()
            return
        self._arm_head_timer()

    def _handed_over(self) -> bool:
        """Whether the transport has another protocol now (a WebSocket upgrade)."""
        mine: Any = self
        return self.transport.get_protocol() is not mine

    def _arm_head_timer(self) -> None:
        self._head_cycle = self.cycle
        self._head_timer = self.loop.call_later(self._door.header_timeout, self._head_expired)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._head_timer is not None:
            # A new cycle (a request head parsed) or an upgrade (the transport has
            # another protocol now): the head arrived in time.
            if self.cycle is not self._head_cycle or self._handed_over():
                self._cancel_head_timer()
        elif (self.cycle is None or self.cycle.response_complete) and (
            not self.transport.is_closing() and not self._handed_over()
        ):
            self._arm_head_timer()  # the first bytes of a kept-alive connection's next request

    def _head_expired(self) -> None:
        self._head_timer = None
        transport = self.transport
        if transport.is_closing() or self._handed_over():
            return
        if self.cycle is not self._head_cycle:
            return
        self._door.timed_out += 1
        logger.info(
            "closed a connection whose request head took over header_timeout=%gs",
            self._door.header_timeout,
            extra={"client_error": True},
        )
        transport.abort()  # nothing was answered; the peer is not owed a response

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]


def _uvicorn_http_class() -> type[asyncio.Protocol]:
    """The HTTP protocol class uvicorn's ``http="auto"`` would pick."""
    name = "httptools_impl:HttpToolsProtocol"
    if importlib.util.find_spec("httptools") is None:
        name = "h11_impl:H11Protocol"
    module, _, attribute = name.partition(":")
    found: type[asyncio.Protocol] = getattr(
        importlib.import_module(f"uvicorn.protocols.http.{module}"), attribute
    )
    return found


def guarded_http_protocol(
    limits: LimitsConfig, base: type[asyncio.Protocol] | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (``base``, else the one ``auto`` picks) with the
    attempt limit and the request-head timeout of ``limits``; pass it as ``http=``."""
    base = base or _uvicorn_http_class()
    door = _Door(limits)
    name = f"Guarded{base.__name__}"
    guarded: type[asyncio.Protocol] = type(name, (_GuardedHTTP, base), {"_door": door})
    return guarded
