"""httpx clients for tests, sharing the package's one TLS context.

httpx builds a TLS context (loading the CA bundle, ~20 ms of CPU) for every
client it makes, even one that only speaks plain HTTP to 127.0.0.1: over the
suite's hundreds of HTTP clients, seconds of the inner loop.
"""

from __future__ import annotations

from typing import Any

import httpx

from praison_push.client.http_transport import tls_context

__all__ = ["http_client", "http_client_sync"]


def http_client(**options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient(**options)`` on the shared TLS context."""
    return httpx.AsyncClient(verify=tls_context(), **options)


def http_client_sync(**options: Any) -> httpx.Client:
    """An ``httpx.Client(**options)`` on the shared TLS context."""
    return httpx.Client(verify=tls_context(), **options)
