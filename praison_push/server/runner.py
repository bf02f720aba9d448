"""Serving a gateway with uvicorn: in the foreground (CLI) or on a thread (tests, notebooks).

The listening socket is bound and listening before uvicorn starts, so the port
is known at once (``port=0`` picks a free one) and early connections wait in the
backlog instead of being refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import GatewayConfig
from ..hub.auth import AuthenticateHook
from ..hub.permissions import AuthorizeHook
from .gateway import Gateway
from .guard import guarded_http_protocol
from .logs import install_log_safety

if TYPE_CHECKING:
    import uvicorn

__all__ = ["GatewayThread", "bind_socket", "build_server", "run_gateway"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when
    # the listening socket says TCP, and Nagle would hold small frames ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def build_server(
    gateway: Gateway, *, server_class: type[uvicorn.Server] | None = None, **overrides: Any
) -> uvicorn.Server:
    """A uvicorn server for ``gateway`` with the gateway's limits applied.

    Its HTTP protocol is uvicorn's, guarded (:mod:`.guard`): connection attempts
    per IP and the request-head timeout of ``LimitsConfig``.

    Its WebSocket implementation is :class:`~.uvicorn_ws.PushWebSocketProtocol`
    (uvicorn's websockets-sansio, lending the app its transports), so ``/ws``
    takes the pre-framed path (:mod:`.wire`); ``ws=...`` in ``overrides`` picks another.
    """
    import uvicorn

    options: dict[str, Any] = {
        # Connection attempts per IP and the request-head timeout (slowloris): .guard.
        "http": guarded_http_protocol(gateway.config.limits),
        "ws": _push_ws_protocol(),
        "ws_max_size": gateway.config.limits.max_message_size,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 3,
        # The hub keeps connections alive with its own ping (PROTOCOL.md §2), so
        # uvicorn's protocol-level pings would only add a timer per connection.
        "ws_ping_interval": None,
        # Compression would be per connection, undoing "encode once per publication".
        "ws_per_message_deflate": False,
    }
    options.update(overrides)
    config = uvicorn.Config(gateway.asgi_app(), **options)
    # After uvicorn.Config, which (re)configures uvicorn's loggers.
    install_log_safety(gateway.config.limits.client_error_log_interval)
    return (server_class or uvicorn.Server)(config)


def _started_hook(on_ready: Callable[[str], None] | None, url: str) -> type[uvicorn.Server]:
    """A uvicorn server class that calls ``on_ready(url)`` once it has started."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if on_ready is not None and self.started and not self.should_exit:
                on_ready(url)

    return Server


def _push_ws_protocol() -> Any:
    """:class:`~.uvicorn_ws.PushWebSocketProtocol`, or uvicorn's choice ("auto") on a
    uvicorn too old to have the websockets-sansio protocol it builds on (ASGI ``send``)."""
    try:
        from .uvicorn_ws import PushWebSocketProtocol
    except ImportError:  # uvicorn < 0.35
        return "auto"
    return PushWebSocketProtocol


def ws_url(sock: socket.socket, path: str = "/ws") -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"ws://{host}:{port}{path}"


def run_gateway(
    config: GatewayConfig | None = None,
    *,
    on_ready: Callable[[str], None] | None = None,
    prepare: Callable[[Gateway], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve a gateway in the foreground until SIGINT/SIGTERM.

    Args:
        config: Gateway configuration (host and port included).
        on_ready: Called with the WebSocket URL once the server has started
            (the socket listens and the app is up), so a signal after it finds
            the server ready to shut down cleanly.
        prepare: Called with the gateway before it serves (register agents …).
        log_level: uvicorn's log level.

    Raises:
        OSError: The address cannot be bound (e.g. ``EADDRINUSE``).
    """
    gateway = Gateway(config)
    if prepare is not None:
        prepare(gateway)
    sock = bind_socket(gateway.config.host, gateway.config.port)
    url = ws_url(sock)
    server = build_server(gateway, log_level=log_level, server_class=_started_hook(on_ready, url))
    # A dedicated gateway process: keep start-up objects out of every GC pass and
    # collect young objects less often. Fan-out allocates a frame dict per
    # publication; default thresholds gave p99 spikes of tens of ms (bench/agents.py).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    with contextlib.closing(sock):
        server.run(sockets=[sock])


class GatewayThread:
    """A gateway served by uvicorn on a daemon thread with its own event loop.

    ``stop()`` then ``start()`` restarts a fresh gateway (new hub, new history
    epoch) on the same port, as a process restart would.

    Args:
        config: Gateway configuration; ``config.port`` 0 picks a free port.
        authenticate: Your own token check (see :class:`~.gateway.Gateway`).
        authorize: Your own channel rule (see :class:`~.gateway.Gateway`).
        server_options: More :func:`build_server` options for uvicorn (e.g.
            ``ws="websockets-sansio"`` for uvicorn's own WebSocket protocol,
            without the pre-framed path).
    """

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        authenticate: AuthenticateHook | None = None,
        authorize: AuthorizeHook | None = None,
        **server_options: Any,
    ) -> None:
        self.config = config or GatewayConfig()
        self.authenticate = authenticate
        self.authorize = authorize
        self.server_options = server_options
        self.port = self.config.port
        self.gateway: Gateway | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> GatewayThread:
        """Bind (reusing the previous port after a stop) and serve on a new thread."""
        if self.running:
            return self
        self.join()  # a stop(wait=False) still finishing holds the port
        gateway = Gateway(self.config, authenticate=self.authenticate, authorize=self.authorize)
        sock = bind_socket(self.config.host, self.port)
        self.port = sock.getsockname()[1]
        server = build_server(gateway, **self.server_options)
        started = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            started.set()
            try:
                loop.run_until_complete(server.serve(sockets=[sock]))
            finally:
                sock.close()
                loop.close()

        self.gateway, self._server = gateway, server
        self._thread = threading.Thread(target=serve, name="praison-push-gateway", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the gateway's loop thread and return its result."""
        if self._loop is None:
            raise RuntimeError("gateway thread is not running")

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Shut down (clients see 1001 and reconnect) and wait for the thread.

        The hub is closed first, on its own loop: runs end with their final
        event and every stream (SSE included) is told to close, so uvicorn's
        graceful shutdown does not have to wait out open streams.

        Args:
            timeout: Seconds to wait for the hub to close, and for the thread.
            wait: ``False`` returns once the hub is closed and the server told to
                exit, leaving uvicorn's last ~0.2 s of shutdown to finish in the
                background (:meth:`join` waits for it). The port may stay bound
                until then, so restarting on it needs ``wait=True``.
        """
        loop, gateway = self._loop, self.gateway
        if loop is not None and gateway is not None and self.running:
            future = asyncio.run_coroutine_threadsafe(gateway.hub.close(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout)
        if self._server is not None:
            self._server.should_exit = True
        self._stopping, self._thread = self._thread, None
        self._server = self._loop = None
        if wait:
            self.join(timeout)

    def join(self, timeout: float = 10.0) -> None:
        """Wait until a stopped gateway's thread has ended."""
        thread, self._stopping = self._stopping, None
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
