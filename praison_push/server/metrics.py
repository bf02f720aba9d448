"""``GET /metrics``: the hub's counters in Prometheus text format.

The hub keeps plain counters (:class:`~praison_push.hub.metrics.HubMetrics`);
this module is the only one that knows Prometheus. A collector of its own
registry (one per gateway, never the global one) reads the counters and the
hub's tables when scraped, so serving metrics costs nothing between scrapes.
``prometheus_client`` is the ``metrics`` extra, imported on the first scrape.

The route asks for the gateway's token (``Authorization: Bearer`` or
``?token=``) unless ``MetricsConfig.public``; an open gateway serves it openly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..hub import Hub
from ..protocol import ErrorCode, FrameError
from .asgi import bearer_token, redact_token

__all__ = ["TRANSPORTS", "MetricsEndpoint"]

_PREFIX = "praison_push"


#: The ``transport`` labels always exported (0 when none is open); each adapter sets
#: its connections' ``transport``: WebSocket, long-poll, SSE (a channel stream or a poll
#: session's stream), a run's SSE (``execute/stream``) and the agent-UI streams.
TRANSPORTS = ("websocket", "poll", "sse", "sse-run", "agent-ui")


class _HubCollector:
    """A ``prometheus_client`` collector reading one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def describe(self) -> list[Any]:
        return []  # collected on demand: the registry need not call collect() at register

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        hub, m = self.hub, self.hub.metrics

        def counter(name: str, doc: str, value: float) -> Any:
            return CounterMetricFamily(f"{_PREFIX}_{name}", doc, value=value)

        by_transport = Counter(c.transport for c in hub.connections.values())
        connections = GaugeMetricFamily(
            f"{_PREFIX}_connections", "Open connections, by transport.", labels=["transport"]
        )
        for transport in sorted({*TRANSPORTS, *by_transport}):
            connections.add_metric([transport], by_transport[transport])
        yield connections
        yield GaugeMetricFamily(
            f"{_PREFIX}_channels", "Channels on this node.", value=len(hub.channels)
        )
        yield GaugeMetricFamily(
            f"{_PREFIX}_runs_running", "Agent runs running.", value=len(hub.runs)
        )
        yield counter("connections_opened", "Connections admitted.", m.connections_opened)
        yield counter(
            "messages_received", "Frames received from clients (messages in).", m.frames_in
        )
        yield counter("publications", "Publications made on this node.", m.publications)
        yield counter(
            "deliveries", "Publications queued to a subscriber (messages out).", m.deliveries
        )
        yield counter(
            "drops", "Publications not queued to a subscriber (closing or full).", m.drops
        )
        yield counter(
            "slow_consumer_closes",
            "Connections closed with 1013 (send queue full).",
            m.slow_consumer_closes,
        )
        yield counter("auth_failures", "Connections and requests refused a token.", m.auth_failures)
        recoveries = CounterMetricFamily(
            f"{_PREFIX}_recoveries", "Subscriptions with since, by outcome.", labels=["recovered"]
        )
        for outcome in (True, False):
            recoveries.add_metric([str(outcome).lower()], m.recoveries[outcome])
        yield recoveries
        errors = CounterMetricFamily(
            f"{_PREFIX}_client_errors", "Error frames sent to clients, by code.", labels=["code"]
        )
        for code in ErrorCode:
            errors.add_metric([code.value], m.errors[code.value])
        yield errors
        runs = CounterMetricFamily(
            f"{_PREFIX}_runs", "Finished agent runs, by status.", labels=["status"]
        )
        for status in sorted({"completed", "failed", "cancelled", *m.runs}):
            runs.add_metric([status], m.runs[status])
        yield runs
        durations = m.run_durations
        yield HistogramMetricFamily(
            f"{_PREFIX}_run_duration_seconds",
            "Finished agent runs' durations.",
            buckets=durations.cumulative(),
            sum_value=durations.total,
        )


class MetricsEndpoint:
    """The ``/metrics`` route of one hub."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._registry: Any = None

    def _render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_HubCollector(self.hub))
            self._registry = registry
        return generate_latest(self._registry), CONTENT_TYPE_LATEST

    async def handle(self, request: Request) -> Response:
        hub = self.hub
        config = hub.config.metrics
        token = request.query_params.get("token") or bearer_token(request.scope)
        redact_token(request.scope)
        if not config.enabled:
            return PlainTextResponse("metrics are off (MetricsConfig.enabled)", status_code=404)
        if not config.public:
            principal = hub.authenticate(token)
            if principal is None:
                error = FrameError(ErrorCode.UNAUTHORIZED, "a valid token is required for /metrics")
                return JSONResponse(error.to_error_fields(), status_code=401)
            if not principal.operator:
                # The gateway's own (static) token, not any user's: metrics describe
                # every organisation's traffic.
                error = FrameError(
                    ErrorCode.FORBIDDEN, "/metrics needs the gateway's token (an operator)"
                )
                return JSONResponse(error.to_error_fields(), status_code=403)
        try:
            body, content_type = self._render()
        except ModuleNotFoundError as exc:
            if exc.name != "prometheus_client":
                raise
            message = "GET /metrics needs the metrics extra: pip install 'praison-push[metrics]'"
            return PlainTextResponse(message, status_code=501)
        return Response(body, media_type=content_type)
