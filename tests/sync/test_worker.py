"""The callback worker: in-order execution on its own thread."""

from __future__ import annotations

import threading

import pytest
from support import WAIT

from praison_push.sync.worker import CallbackWorker


def test_runs_calls_in_order_on_its_thread() -> None:
    worker = CallbackWorker("test-worker")
    seen: list[tuple[int, str, bool]] = []
    futures = [
        worker.submit(
            lambda n: seen.append((n, threading.current_thread().name, worker.in_worker())), n
        )
        for n in range(5)
    ]
    for future in futures:
        future.result(WAIT)
    assert seen == [(n, "test-worker", True) for n in range(5)]
    assert not worker.in_worker()
    assert "running" in repr(worker)
    worker.stop()


def test_exceptions_land_in_the_future() -> None:
    worker = CallbackWorker("test-worker")

    def fail(_argument: object) -> None:
        raise ValueError("bad callback")

    with pytest.raises(ValueError, match="bad callback"):
        worker.submit(fail, None).result(WAIT)
    worker.stop()


def test_stop_then_submit_starts_a_new_thread_and_cancelled_jobs_are_skipped() -> None:
    worker = CallbackWorker("test-worker")
    gate = threading.Event()
    blocker = worker.submit(lambda _: gate.wait(WAIT), None)
    skipped = worker.submit(lambda _: pytest.fail("cancelled job ran"), None)
    assert skipped.cancel()
    gate.set()
    assert blocker.result(WAIT) is True
    worker.stop()
    worker.stop()
    assert worker.submit(lambda n: n + 1, 1).result(WAIT) == 2
    worker.stop()
    assert "idle" in repr(CallbackWorker("fresh"))
