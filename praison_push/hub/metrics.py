"""What the hub counts for monitoring: plain integers, read when someone asks.

The hub knows nothing of Prometheus: it bumps attributes of one
:class:`HubMetrics` (an attribute increment on the hot path, no call, no lock —
the hub lives on one event loop), and an exporter at the edge
(:mod:`praison_push.server.metrics`) turns a snapshot into its format when it is
scraped. Gauges (open connections by transport, running runs) are computed at
that moment from the hub's own tables, so they cost nothing in between.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["RUN_DURATION_BUCKETS", "HubMetrics", "RunDurations"]

#: Upper bounds (seconds) of the run-duration histogram's buckets (+Inf implied).
RUN_DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class RunDurations:
    """A fixed-bucket histogram of finished runs' durations.

    ``counts[i]`` is the number of runs of at most ``RUN_DURATION_BUCKETS[i]``
    seconds that are over the bucket before (not cumulative); the last entry
    counts the longer ones.
    """

    counts: list[int] = field(default_factory=lambda: [0] * (len(RUN_DURATION_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(RUN_DURATION_BUCKETS, seconds)  # first bound >= seconds
        self.counts[index] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(upper bound, runs at most that long)`` pairs, ``"+Inf"`` last."""
        pairs: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip(
            (*map(str, RUN_DURATION_BUCKETS), "+Inf"), self.counts, strict=True
        ):
            running += count
            pairs.append((bound, running))
        return pairs


@dataclass
class HubMetrics:
    """Counters since the hub started. Every field only grows.

    Attributes:
        frames_in: Frames received from clients (any transport, any dialect).
        publications: Publications made on this node (clients' and the gateway's).
        deliveries: Publications queued to a subscriber of this node.
        drops: Publications not queued to a subscriber (its connection closing
            or its send queue full).
        slow_consumer_closes: Connections closed with 1013 (send queue full).
        auth_failures: Connections and requests refused for a missing or bad token.
        recoveries: ``since`` subscriptions, by whether they recovered (``True``) or
            not (``False``: a gap the client must handle).
        errors: ``error`` frames sent to clients, by code.
        runs: Finished runs, by final status.
        run_durations: Finished runs' durations.
        connections_opened: Connections admitted.
    """

    frames_in: int = 0
    publications: int = 0
    deliveries: int = 0
    drops: int = 0
    slow_consumer_closes: int = 0
    auth_failures: int = 0
    connections_opened: int = 0
    recoveries: Counter[bool] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    run_durations: RunDurations = field(default_factory=RunDurations)

    def run_finished(self, status: str, seconds: float) -> None:
        """A run ended with ``status`` after ``seconds``."""
        self.runs[status] += 1
        self.run_durations.observe(seconds)
