"""The in-process gateway: one call starts a gateway inside the current process.

Made for notebooks and scripts: uvicorn runs on a daemon thread with its own
event loop on a socket pre-bound to 127.0.0.1 (port 0 picks a free port), so
the caller's thread — a Jupyter kernel included — never blocks. Calling again
with the same arguments returns the gateway already running (re-running a cell
is harmless), and every gateway is stopped at interpreter exit.
"""

from __future__ import annotations

import atexit
import html
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..config import AuthConfig, GatewayConfig
from .gateway import Gateway
from .runner import GatewayThread

__all__ = ["InProcessGateway", "running_gateways", "start_in_process"]

F = TypeVar("F", bound=Callable[..., Any])

_lock = threading.Lock()
_running: dict[tuple[Any, ...], InProcessGateway] = {}


class InProcessGateway:
    """A gateway served on a background thread of this process.

    Attributes:
        token: The token clients must present (generated when none was given).
        config: The configuration it runs with.
    """

    def __init__(self, config: GatewayConfig, token: str) -> None:
        self.config = config
        self.token = token
        self._thread = GatewayThread(config)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.url} {state}>"

    @property
    def url(self) -> str:
        """The WebSocket URL (``ws://127.0.0.1:<port>/ws``)."""
        return self._thread.url

    @property
    def http_url(self) -> str:
        """The HTTP base URL (``/health``, SSE runs)."""
        return self._thread.http_url

    @property
    def port(self) -> int:
        return self._thread.port

    @property
    def running(self) -> bool:
        return self._thread.running

    @property
    def gateway(self) -> Gateway:
        """The running :class:`Gateway` (its hub, its agents)."""
        gateway = self._thread.gateway
        if gateway is None or not self.running:
            raise RuntimeError("the gateway is not running")
        return gateway

    def agent(self, name: str, *, description: str = "") -> Callable[[F], F]:
        """Decorator registering an agent on this gateway."""
        return self.gateway.agent(name, description=description)

    def register_agent(self, name: str, agent: Any, *, description: str = "") -> None:
        """Register any callable, (async) generator or ``praisonaiagents.Agent``."""
        self.gateway.register_agent(name, agent, description=description)

    def stats(self) -> dict[str, Any]:
        """Connections, channels and runs right now (read from the gateway's thread)."""
        if not self.running:
            return {"connections": 0, "channels": 0, "runs": 0}
        stats = self.gateway.hub.stats()
        return {key: stats[key] for key in ("connections", "channels", "runs")}

    def start(self) -> InProcessGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (connected clients see the gateway go away)."""
        self._thread.stop()
        with _lock:
            for key, gateway in list(_running.items()):
                if gateway is self:
                    del _running[key]

    def __enter__(self) -> InProcessGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _repr_html_(self) -> str:
        stats = self.stats()
        colour, state = ("#16a34a", "running") if self.running else ("#9ca3af", "stopped")
        return (
            "<div style='font-family:system-ui,sans-serif;font-size:13px'>"
            f"<b>praison_push gateway</b> <span style='color:{colour}'>● {state}</span><br>"
            f"<code>{html.escape(self.url)}</code> · {stats['connections']} connections · "
            f"{stats['channels']} channels · {stats['runs']} runs · token set (hidden)"
            "</div>"
        )


def _key(host: str, port: int, token: str | None, config: GatewayConfig | None) -> tuple[Any, ...]:
    return (host, port, token, None if config is None else config.model_dump_json())


G = TypeVar("G", bound=InProcessGateway)


def start_in_process(
    *,
    port: int = 0,
    token: str | None = None,
    config: GatewayConfig | None = None,
    cls: type[G] = InProcessGateway,  # type: ignore[assignment]
) -> G:
    """Start (or return the already running) in-process gateway.

    Args:
        port: TCP port on 127.0.0.1; 0 picks a free one.
        token: The token clients must present; generated when ``None`` (the
            config's own tokens are kept too).
        config: Full configuration; its ``port`` is replaced by ``port``.
        cls: The handle class (a face may add conveniences in a subclass).
    """
    key = _key("127.0.0.1", port, token, config)
    with _lock:
        existing = _running.get(key)
        if isinstance(existing, cls) and existing.running:
            return existing
        base = config or GatewayConfig()
        secret = token or secrets.token_urlsafe(24)
        tokens = [*base.auth.tokens, secret]
        final = base.model_copy(
            update={"host": "127.0.0.1", "port": port, "auth": AuthConfig(tokens=tokens)}
        )
        gateway = cls(final, secret)
        gateway.start()
        _running[key] = gateway
        return gateway


def running_gateways() -> list[InProcessGateway]:
    """Every in-process gateway still running."""
    with _lock:
        return [gateway for gateway in _running.values() if gateway.running]


@atexit.register
def _stop_all() -> None:
    for gateway in running_gateways():
        gateway.stop()
