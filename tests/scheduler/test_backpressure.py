"""Backpressure: max_queue with on_full="raise" | "block", and lazily fed generators."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from policy_servers import origins
from scheduler_fakes import FakeJob

from netstack import HttpError, RequestFuture, Scheduler
from netstack.scheduler.scheduler import QueueFullError, SchedulerShutdownError


def paused(**kwargs: object) -> tuple[Scheduler, threading.Event]:
    scheduler = Scheduler(max_workers=1, **kwargs)  # type: ignore[arg-type]
    gate = threading.Event()
    job = FakeJob("gate", host="gate-host", gate=gate)
    scheduler.jobs.submit(job)
    assert job.started.wait(10)
    return scheduler, gate


def test_on_full_must_be_raise_or_block() -> None:
    with pytest.raises(HttpError, match="on_full") as info:
        Scheduler(max_queue=1, on_full="wait")  # type: ignore[arg-type]
    assert info.value.code == 401


@pytest.mark.timeout(30)
def test_block_waits_for_room_then_queues() -> None:
    scheduler, gate = paused(max_queue=2, on_full="block")
    try:
        first = [scheduler.jobs.submit(FakeJob(i)) for i in range(2)]
        result: list[RequestFuture] = []
        blocked = threading.Thread(target=lambda: result.append(scheduler.jobs.submit(FakeJob(2))))
        blocked.start()
        blocked.join(0.3)
        assert blocked.is_alive()  # the queue is full: submit waits
        assert scheduler.stats().queued == 2
        gate.set()
        blocked.join(10)
        assert not blocked.is_alive()
        assert [f.result(timeout=10) for f in [*first, *result]] == [0, 1, 2]
    finally:
        gate.set()
        scheduler.shutdown()


@pytest.mark.timeout(30)
def test_block_with_timeout_raises_queue_full_and_shutdown_wakes_blocked_submitters() -> None:
    scheduler, gate = paused(max_queue=1, on_full="block")
    try:
        scheduler.jobs.submit(FakeJob(0))
        started = time.monotonic()
        with pytest.raises(QueueFullError, match="no room within"):
            scheduler.jobs.submit(FakeJob(1), timeout=0.2)
        assert 0.15 <= time.monotonic() - started < 5
        errors: list[BaseException] = []

        def submit() -> None:
            try:
                scheduler.jobs.submit(FakeJob(2))
            except HttpError as exc:
                errors.append(exc)

        blocked = threading.Thread(target=submit)
        blocked.start()
        blocked.join(0.2)
        scheduler.shutdown(wait=False, cancel_pending=True)
        blocked.join(10)
        assert len(errors) == 1
        assert isinstance(errors[0], SchedulerShutdownError)
    finally:
        gate.set()
        scheduler.shutdown()


@pytest.mark.timeout(60)
def test_submit_batch_feeds_a_generator_lazily_while_blocking() -> None:
    """The generator is never more than max_queue (+ in flight) ahead of the origin."""
    with origins(1) as (origin,):
        scheduler = Scheduler(max_workers=2, max_per_host=2, max_queue=5, on_full="block")
        ahead: list[int] = []

        def items() -> Iterator[str]:
            for i in range(60):
                ahead.append(i + 1 - origin.count("/ok"))
                yield f"{origin.url}/ok?i={i}"

        with scheduler:
            futures = scheduler.submit_batch(items())
            assert all(f.result(timeout=30).response_code == 200 for f in futures)
    assert len(futures) == 60
    assert max(ahead) <= 5 + 2 + 1


@pytest.mark.timeout(30)
def test_generator_in_raise_mode_stops_at_the_first_item_that_does_not_fit() -> None:
    scheduler, gate = paused(max_queue=3)
    pulled: list[int] = []

    def items() -> Iterator[str]:
        for i in range(10):
            pulled.append(i)
            yield f"http://127.0.0.1:9/{i}"

    try:
        with pytest.raises(QueueFullError):
            scheduler.submit_batch(items())
        assert scheduler.stats().queued == 3
        assert pulled == [0, 1, 2, 3]  # not one item more than needed
    finally:
        scheduler.shutdown(wait=False, cancel_pending=True)
        gate.set()
        scheduler.shutdown()


@pytest.mark.timeout(30)
def test_a_list_in_raise_mode_is_still_all_or_nothing() -> None:
    scheduler, gate = paused(max_queue=3)
    try:
        with pytest.raises(QueueFullError):
            scheduler.submit_batch([f"http://127.0.0.1:9/{i}" for i in range(4)])
        assert scheduler.stats().queued == 0
        with pytest.raises(HttpError) as info:
            scheduler.submit_batch(
                ["http://127.0.0.1:9/", ("http://127.0.0.1:9/", {"priority": 0})]
            )
        assert info.value.code == 401
        assert scheduler.stats().queued == 0
    finally:
        scheduler.shutdown(wait=False, cancel_pending=True)
        gate.set()
        scheduler.shutdown()
