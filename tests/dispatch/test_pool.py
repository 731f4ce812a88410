"""WorkerPool edge cases: no thread can start; a broken retry rule; threads leave at shutdown."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from netstack.errors import UNKNOWN, HttpError
from netstack.scheduler import Scheduler

sys.path.insert(0, str(Path(__file__).parents[1] / "scheduler"))
from scheduler_fakes import FakeJob


@pytest.mark.timeout(30)
def test_when_no_worker_thread_can_start_every_queued_request_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No future is stranded: each fails with 2300999 naming the cause."""
    scheduler = Scheduler(max_workers=2, name="nothreads")

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    futures = [scheduler.jobs.submit(FakeJob(i)) for i in range(3)]
    monkeypatch.undo()
    for future in futures:
        error = future.exception(timeout=5)
        assert isinstance(error, HttpError)
        assert error.code == UNKNOWN
        assert "cannot start a worker thread" in str(error)
    stats = scheduler.stats()
    assert (stats.failed, stats.queued, stats.running) == (3, 0, 0)
    scheduler.shutdown()


@pytest.mark.timeout(30)
def test_a_retry_rule_that_raises_ends_the_request_with_its_outcome() -> None:
    """The rule is the owner's code: if it breaks, the run's outcome stands (no retry)."""
    scheduler = Scheduler(max_workers=1)
    pool = scheduler.jobs.sink.pool  # type: ignore[attr-defined]

    def broken(job: object, result: object, error: BaseException | None) -> None:
        raise ValueError("broken rule")

    pool._retry_rule, pool._retry_all = broken, True
    assert scheduler.jobs.submit(FakeJob("x")).result(timeout=5) == "x"
    scheduler.shutdown()
    assert not any(t.is_alive() for t in scheduler.jobs.threads)
