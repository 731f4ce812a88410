"""The worker's dispatcher over a LeaseBuffer, without Redis: leases in, outcomes out.

A ``netstack worker`` runs ``Dispatcher`` + ``WorkerPool`` over a
``LeaseBuffer`` (a ``LeasedBackend``): the fetcher adds leases and calls the
pool's ``tick``; each ticket's end lands in the outbox, a final outcome
through ``finish`` (here from a done-callback, as the worker does), a retry
through ``retry_at`` (the dispatcher then forgets the ticket: Redis runs it
again as a new lease). Aborted and given-back leases end as the worker
needs them to.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from typing import Any, cast

import pytest

from netstack.dispatch.backend import LeasedBackend
from netstack.dispatch.job import Job
from netstack.dispatch.pool import WorkerPool
from netstack.dispatch.state import Dispatcher
from netstack.dispatch.ticket import Ticket
from netstack.distributed.leases import LeaseBuffer
from netstack.distributed.ops import Popped

pytestmark = pytest.mark.timeout(30)


class _Job:
    def __init__(self, popped: Popped, release: threading.Event | None = None) -> None:
        self.popped = popped
        self.host_key = popped.host
        self.url = f"http://{popped.host}/{popped.request_id}"
        self.priority = popped.priority
        self.retry = popped.attempt < 2  # the first attempt asks for a retry
        self.release = release
        self.aborted = threading.Event()

    def run(self) -> object:
        if self.release is not None:
            self.release.wait(10)
        if self.aborted.is_set():
            raise RuntimeError("aborted")
        return f"ok {self.popped.request_id}"

    def abort(self) -> None:
        self.aborted.set()
        if self.release is not None:
            self.release.set()


class _Lease(Ticket):
    __slots__ = ("lease",)

    def __init__(self, job: _Job) -> None:
        super().__init__(cast("Job", job), job.popped.request_id, job.popped.priority, None)
        self.lease = job.popped


class Harness:
    def __init__(self, threads: int = 2, retry_s: float | None = None) -> None:
        self.cond = threading.Condition()
        self.given: list[int] = []
        self.buffer: LeaseBuffer[Ticket] = LeaseBuffer(
            self.cond,
            lambda t: cast("_Lease", t).lease,
            self._give_back,
            free=threads,
            lease=30.0,
        )

        def rule(job: Any, result: object, error: BaseException | None) -> tuple[float, str] | None:
            return None if retry_s is None or not job.retry else (retry_s, "test")

        self.pool = WorkerPool(
            Dispatcher(self.buffer, threads), name="leases-test", retry_rule=rule
        )

    def _give_back(self, ids: list[int]) -> int:
        self.given += ids
        return len(ids)

    def lease(
        self, request_id: int, *, attempt: int = 1, release: threading.Event | None = None
    ) -> Ticket:
        job = _Job(Popped(request_id, b"{}", 1, attempt, "h"), release)
        ticket = _Lease(job)

        def ended(future: Future[Any]) -> None:
            error = None if future.cancelled() else future.exception()
            record = "cancelled" if future.cancelled() else str(error or future.result())
            self.buffer.finish(future, record, failed=error is not None or future.cancelled())

        ticket.add_done_callback(ended)
        return ticket

    def feed(self, tickets: list[Ticket]) -> None:
        with self.cond:
            self.buffer.free -= len(tickets)
        self.buffer.add(tickets)
        self.pool.tick()

    def wait_outbox(self, count: int) -> list[tuple[int, str, str]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.buffer.outbox) >= count, 10)
            return [(f.request_id, f.counter, f.outcome) for _, f, _ in self.buffer.outbox]

    def close(self) -> None:
        self.pool.close(cancel_pending=True)
        self.pool.join()


def test_the_buffer_keeps_the_leased_contract() -> None:
    harness = Harness()
    backend: LeasedBackend[Ticket] = harness.buffer
    assert backend.leases is True
    assert backend.next_wake is None
    assert backend.empty
    assert len(backend) == 0
    with pytest.raises(TypeError):
        backend.push(harness.lease(1), "h", 1, None, 0.0)
    harness.close()


def test_leases_run_on_the_pool_and_their_outcomes_reach_the_outbox() -> None:
    harness = Harness(threads=2)
    harness.feed([harness.lease(i, attempt=2) for i in (1, 2, 3)])  # more than threads: 1 waits
    found = harness.wait_outbox(3)
    assert sorted(found) == [(i, "completed", f"ok {i}") for i in (1, 2, 3)]
    assert harness.buffer.free == 2
    assert harness.buffer.empty
    stats = harness.pool.stats()
    assert stats.completed == 3
    assert stats.running == 0
    harness.close()


def test_a_retry_goes_back_to_the_shared_queue_and_the_dispatcher_keeps_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness(threads=1, retry_s=0.25)
    ticket = harness.lease(7, attempt=1)
    with caplog.at_level(logging.INFO, logger="netstack"):
        harness.feed([ticket])
        (entry,) = harness.wait_outbox(1)
        # logged as in process, though the wait happens in Redis (after the hand-over)
        deadline = time.monotonic() + 5
        while not _logged(caplog, "retry_scheduled") and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
    assert _logged(caplog, "retry_scheduled") == 1
    assert entry[:2] == (7, "retry")
    _, finished, _ = harness.buffer.outbox[0]
    assert 0 < finished.retry_ms <= 250
    assert not ticket.done()  # ends as a new lease: nothing settled here
    state = harness.pool.state
    assert not state.between
    assert state.running == 0
    assert state.completed == state.failed == 0
    harness.close()


def _logged(caplog: pytest.LogCaptureFixture, event: str) -> int:
    return sum(event in r.getMessage() for r in caplog.records)


def test_a_producer_abort_fails_a_waiting_lease_and_stops_a_running_one() -> None:
    harness = Harness(threads=1)
    release = threading.Event()
    running = harness.lease(1, attempt=2, release=release)
    waiting = harness.lease(2, attempt=2)
    harness.feed([running, waiting])
    assert harness.pool.abort(
        waiting, RuntimeError("aborted by its producer"), cancel_waiting=False
    )
    assert harness.pool.abort(
        running, RuntimeError("aborted by its producer"), cancel_waiting=False
    )
    found = harness.wait_outbox(2)
    assert sorted(found) == [
        (1, "failed", "aborted by its producer"),
        (2, "failed", "aborted by its producer"),
    ]
    harness.close()


def test_leases_given_back_at_stop_end_unrecorded() -> None:
    harness = Harness(threads=1)
    release = threading.Event()
    running = harness.lease(1, attempt=2, release=release)
    harness.feed([running, harness.lease(2, attempt=2), harness.lease(3, attempt=2)])
    taken = harness.pool.detach_all()  # what no thread started
    assert sorted(t.request_id for t in taken) == [2, 3]
    assert harness.buffer.give_back(taken) == 2
    harness.pool.end_detached(taken)
    assert harness.buffer.give_back([running]) == 1
    harness.pool.abort_running(RuntimeError("stopping"))
    release.set()
    harness.close()
    assert sorted(harness.given) == [1, 2, 3]
    assert harness.buffer.outbox == []
    assert not harness.buffer.returning
    assert harness.buffer.free == 1  # each of the three ended leases freed its thread again
