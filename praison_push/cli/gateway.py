"""``praison-push gateway``: serve a gateway in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import importlib.util
import ipaddress
import logging
import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config import AuthConfig, DeliveryConfig, GatewayConfig, PushConfig, RedisConfig
from ._common import UsageProblem, fail, out

if TYPE_CHECKING:
    from ..server import Gateway

__all__ = ["TOKEN_ENV", "URL_ENV", "cmd_gateway", "is_loopback", "listen_address"]

TOKEN_ENV = "PRAISON_PUSH_TOKEN"
URL_ENV = "PRAISON_PUSH_URL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class _Terminated(Exception):
    """SIGTERM: stop as cleanly as Ctrl-C."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _load_agents(spec: str) -> dict[str, Any]:
    """``module:attr`` → agents by name: a mapping of them, or one agent named ``attr``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageProblem(f"--agents {spec!r}: use MODULE:ATTRIBUTE (e.g. myagents:agents)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as uvicorn does: the user's modules are here
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageProblem(f"--agents {spec!r}: cannot import {module_name!r} ({exc})") from None
    try:
        found = getattr(module, attr)
    except AttributeError:
        raise UsageProblem(f"--agents {spec!r}: {module_name} has no {attr!r}") from None
    if isinstance(found, dict):
        return dict(found)
    if callable(found):
        return {attr: found}
    raise UsageProblem(
        f"--agents {spec!r}: expected an agent or a dict of agents, got {type(found).__name__}"
    )


def listen_address(args: argparse.Namespace) -> tuple[str, int]:
    """``--host``/``--port``, else the host and port of ``PRAISON_PUSH_URL``, else the defaults.

    One variable then names the gateway for both sides: the client commands
    connect to it and the gateway listens on it.
    """
    host, port = DEFAULT_HOST, DEFAULT_PORT
    url = os.environ.get(URL_ENV)
    if url:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or host, parts.port or port
        except ValueError:
            raise UsageProblem(f"{URL_ENV}={url!r} is not a valid URL") from None
        if parts.path != "/ws":
            raise UsageProblem(f"{URL_ENV}={url!r}: the gateway serves /ws, not {parts.path!r}")
    return (args.host or host, port if args.port is None else args.port)


def _gateway_config(args: argparse.Namespace, tokens: list[str]) -> GatewayConfig:
    try:
        delivery = DeliveryConfig.from_store(args.store, enabled=not args.no_delivery)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    if delivery.store_backend == "redis" and not args.redis_url:
        raise UsageProblem("--store redis needs --redis-url (the Redis the gateways share)")
    push = PushConfig(enabled=True, delivery=delivery)
    if args.redis_url and importlib.util.find_spec("redis") is None:
        raise UsageProblem("--redis-url needs the redis extra: pip install 'praison-push[redis]'")
    if args.redis_url:
        push = PushConfig(enabled=True, redis=RedisConfig(url=args.redis_url), delivery=delivery)
    host, port = listen_address(args)
    auth = AuthConfig(tokens=tokens)
    try:
        auth = AuthConfig(
            tokens=tokens,
            allowed_origins=[*auth.allowed_origins, *(args.allow_origin or [])],
            allowed_hosts=args.allow_host or [],
        )
    except ValueError as exc:  # pydantic's ValidationError: its first error's message
        errors = getattr(exc, "errors", None)
        message = str(errors()[0]["msg"]) if callable(errors) else str(exc)
        message = message.removeprefix("Value error, ")
        raise UsageProblem(f"--allow-origin: {message}") from None
    return GatewayConfig(host=host, port=port, auth=auth, push=push)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def cmd_gateway(args: argparse.Namespace) -> int:
    from ..server import run_gateway

    env_token = os.environ.get(TOKEN_ENV)
    tokens: list[str] = args.token or ([env_token] if env_token else [])
    agents: dict[str, Any] = {}
    for spec in args.agents or []:
        agents.update(_load_agents(spec))
    if args.log_level != "warning":
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("praison_push").setLevel(args.log_level.upper())
    config = _gateway_config(args, tokens)

    def prepare(gateway: Gateway) -> None:
        for name, agent in agents.items():
            gateway.register_agent(name, agent)

    def ready(url: str) -> None:
        out(f"praison-push gateway listening on {url}")
        if tokens:
            count = f"{len(tokens)} token{'' if len(tokens) == 1 else 's'}"
            out(f"auth: on ({count}); clients pass --token or set {TOKEN_ENV}")
        else:
            out(f"auth: off, any client can connect (pass --token or set {TOKEN_ENV})")
        if agents:
            out(f"agents: {', '.join(sorted(agents))} (and the demo agents)")

    if not tokens and not is_loopback(config.host):
        if not args.insecure:
            return fail(
                f"refusing to serve {config.host} without a token: anyone who can reach it "
                f"could read, publish and run agents; pass --token (or set {TOKEN_ENV}), "
                "or --insecure to serve it open anyway",
                2,
            )
        print(
            "praison-push: warning: serving without a token on a non-loopback address (--insecure)",
            file=sys.stderr,
            flush=True,
        )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        # uvicorn re-raises Ctrl-C (and SIGTERM) after its graceful shutdown.
        with contextlib.suppress(KeyboardInterrupt, _Terminated):
            run_gateway(config, on_ready=ready, prepare=prepare, log_level=args.log_level)
    except ValueError as exc:  # the configuration cannot be served (a store that cannot open)
        return fail(str(exc), 2)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            where = f"{config.host}:{config.port}"
            return fail(f"cannot listen on {where}: the address is already in use")
        return fail(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}")
    finally:
        signal.signal(signal.SIGTERM, previous)
    out("praison-push gateway stopped")
    return 0
