"""Scheduler: dispatch order, per-host limits, cancellation, abort, shutdown, stats."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import tracemalloc
from concurrent.futures import ALL_COMPLETED, CancelledError, as_completed, wait

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scheduler_fakes import FakeJob, MinimalJob

from netstack.errors import ABORTED, UNKNOWN, HttpError
from netstack.scheduler import RequestFuture, Scheduler, SchedulerStats
from netstack.scheduler.scheduler import QueueFullError, SchedulerShutdownError


def paused(**kwargs: object) -> tuple[Scheduler, threading.Event]:
    """A one-worker scheduler whose worker is held by a gate job until the event is set."""
    scheduler = Scheduler(max_workers=1, **kwargs)  # type: ignore[arg-type]
    gate = threading.Event()
    job = FakeJob("gate", host="gate-host", gate=gate)
    scheduler.jobs.submit(job)
    assert job.started.wait(10)
    return scheduler, gate


def ended(stats: SchedulerStats) -> int:
    return stats.completed + stats.failed + stats.cancelled


# -- order -------------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.sampled_from("abc"), st.integers(1, 4)),
        st.tuples(st.just("set_priority"), st.integers(0, 40), st.integers(1, 4)),
        st.tuples(st.just("cancel"), st.integers(0, 40), st.just(0)),
    ),
    max_size=40,
)


@pytest.mark.timeout(60)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_dispatch_order_is_priority_then_submission_order(
    ops: list[tuple[str, object, int]],
) -> None:
    """submit / set_priority / cancel on a paused scheduler: runs by (-priority, seq)."""
    scheduler, gate = paused()
    order: list[object] = []
    futures: list[RequestFuture] = []
    final: dict[int, int] = {}
    try:
        for op, arg, priority in ops:
            if op == "submit":
                assert isinstance(arg, str)
                i = len(futures)
                job = FakeJob(i, host=arg, priority=priority, on_run=lambda j: order.append(j.name))
                futures.append(scheduler.jobs.submit(job))
                final[i] = priority
            elif futures:
                assert isinstance(arg, int)
                i = arg % len(futures)
                if op == "set_priority":
                    futures[i].set_priority(priority)
                    if i in final:
                        final[i] = priority
                        assert futures[i].priority == priority
                else:
                    assert futures[i].cancel()
                    final.pop(i, None)
        gate.set()
        wait(futures, timeout=20)
    finally:
        gate.set()
        scheduler.shutdown()
    assert order == sorted(final, key=lambda i: (-final[i], i))
    assert all(f.cancelled() for i, f in enumerate(futures) if i not in final)
    stats = scheduler.stats()
    assert ended(stats) == stats.submitted == len(futures) + 1


# -- per-host limits ---------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_saturated_host_does_not_delay_other_hosts() -> None:
    gate = threading.Event()
    with Scheduler(max_workers=4, max_per_host=2) as scheduler:
        blocked = [scheduler.jobs.submit(FakeJob(i, host="a", gate=gate)) for i in range(20)]
        other = scheduler.jobs.submit(FakeJob("b", host="b"))
        assert other.result(timeout=10) == "b"
        assert sum(f.running() for f in blocked) == 2
        assert scheduler.stats().queued == 18
        assert "1 saturated" in repr(scheduler)
        gate.set()
        assert [f.result(timeout=10) for f in blocked] == list(range(20))


@pytest.mark.timeout(30)
def test_waiting_request_of_saturated_host_runs_first_when_its_slot_frees() -> None:
    gate = threading.Event()
    order: list[object] = []
    record = order.append
    with Scheduler(max_workers=3, max_per_host=1) as scheduler:
        first = FakeJob("a-running", host="a", gate=gate)
        scheduler.jobs.submit(first)
        assert first.started.wait(10)
        low = [
            scheduler.jobs.submit(FakeJob(f"a-low{i}", host="a", on_run=lambda j: record(j.name)))
            for i in range(3)
        ]
        high = scheduler.jobs.submit(
            FakeJob("a-high", host="a", priority=10, on_run=lambda j: record(j.name))
        )
        b = scheduler.jobs.submit(FakeJob("b", host="b", priority=5))
        assert b.result(timeout=10) == "b"  # host b was never blocked by a
        assert order == []
        gate.set()
        wait([*low, high], timeout=10)
    assert order == ["a-high", "a-low0", "a-low1", "a-low2"]


# -- cancel, set_priority ----------------------------------------------------------------


@pytest.mark.timeout(30)
def test_user_cancel_of_waiting_request_is_counted_and_wakes_wait() -> None:
    scheduler, gate = paused()
    try:
        future = scheduler.jobs.submit(FakeJob("x"))
        waiter = threading.Thread(target=lambda: wait([future], timeout=10))
        waiter.start()
        assert future.cancel()
        waiter.join(10)
        assert not waiter.is_alive()
        assert future.cancelled()
        assert future.done()
        assert scheduler.stats().cancelled == 1
        assert scheduler.stats().queued == 0
    finally:
        gate.set()
        scheduler.shutdown()
    assert future.cancel()  # cancelling a cancelled future stays True


@pytest.mark.timeout(30)
def test_cancel_and_set_priority_have_no_effect_once_running() -> None:
    gate = threading.Event()
    with Scheduler(max_workers=1) as scheduler:
        job = FakeJob("x", gate=gate)
        future = scheduler.jobs.submit(job)
        assert job.started.wait(10)
        assert not future.cancel()
        future.set_priority(500)
        assert future.priority == 1
        gate.set()
        assert future.result(timeout=10) == "x"
    assert scheduler.stats().completed == 1


def test_set_priority_validates_value_and_owner() -> None:
    scheduler, gate = paused()
    other = Scheduler(max_workers=1)
    try:
        future = scheduler.jobs.submit(FakeJob("x"))
        for bad in (0, 1001, True, 3.0):
            with pytest.raises(HttpError, match="priority") as info:
                scheduler.set_priority(future, bad)  # type: ignore[arg-type]
            assert info.value.code == 401
        with pytest.raises(HttpError, match="future"):
            other.set_priority(future, 5)
        scheduler.set_priority(future, 1000)
        assert future.priority == 1000
    finally:
        gate.set()
        scheduler.shutdown()
        other.shutdown()


# -- abort (HttpRequest.destroy) ---------------------------------------------------------


@pytest.mark.timeout(30)
def test_abort_of_waiting_request_cancels_it() -> None:
    scheduler, gate = paused()
    try:
        job = FakeJob("x")
        future = scheduler.jobs.submit(job)
        scheduler.jobs.abort(future)
        assert future.cancelled()
        assert wait([future], timeout=5).done == {future}
        scheduler.jobs.abort(future)  # already done: no-op
    finally:
        gate.set()
        scheduler.shutdown()
    assert not job.ran
    stats = scheduler.stats()
    assert (stats.cancelled, ended(stats), stats.submitted) == (1, 2, 2)


@pytest.mark.timeout(30)
def test_abort_of_running_request_fails_it_now_and_frees_slot_when_run_returns() -> None:
    release = threading.Event()
    ran_on = threading.Event()

    def stubborn(job: FakeJob) -> None:  # ignores abort() until released
        ran_on.set()
        assert release.wait(10)

    with Scheduler(max_workers=1, max_per_host=1) as scheduler:
        job = FakeJob("slow", host="a", on_run=stubborn, result="dropped")
        future = scheduler.jobs.submit(job)
        assert ran_on.wait(10)
        scheduler.jobs.abort(future)
        assert job.aborted.is_set()
        with pytest.raises(HttpError) as info:
            future.result(timeout=0)
        assert info.value.code == ABORTED
        next_one = scheduler.jobs.submit(FakeJob("next", host="a"))
        time.sleep(0.05)
        assert not next_one.done()  # worker and host slot still held by the aborted run()
        assert scheduler.stats().running == 1
        scheduler.jobs.abort(future)  # idempotent
        release.set()
        assert next_one.result(timeout=10) == "next"
    stats = scheduler.stats()
    assert (stats.failed, stats.completed, stats.submitted, ended(stats)) == (1, 1, 2, 2)


# -- callbacks and failures --------------------------------------------------------------


@pytest.mark.timeout(30)
def test_done_callback_that_submits_does_not_deadlock() -> None:
    with Scheduler(max_workers=2) as scheduler:
        chained: list[RequestFuture] = []
        done = threading.Event()

        def resubmit(_: object) -> None:
            if len(chained) < 5:
                chained.append(scheduler.jobs.submit(FakeJob(len(chained))))
                chained[-1].add_done_callback(resubmit)
            else:
                done.set()

        scheduler.jobs.submit(FakeJob("first")).add_done_callback(resubmit)
        assert done.wait(10)
        assert [f.result(timeout=10) for f in chained] == [0, 1, 2, 3, 4]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("error", [ZeroDivisionError("boom"), KeyboardInterrupt(), SystemExit(3)])
def test_job_raising_anything_fails_its_future_but_not_the_worker(error: BaseException) -> None:
    with Scheduler(max_workers=1) as scheduler:
        bad = scheduler.jobs.submit(FakeJob("bad", error=error))
        assert bad.exception(timeout=10) is error
        assert scheduler.jobs.submit(FakeJob("after")).result(timeout=10) == "after"
        assert all(t.is_alive() for t in scheduler.jobs.threads)
    assert (scheduler.stats().failed, scheduler.stats().completed) == (1, 1)


def test_settled_job_resolves_at_submit_without_queueing() -> None:
    with Scheduler(max_workers=1) as scheduler:
        hit = FakeJob("hit")
        hit.settled, hit.settled_result, hit.from_cache = True, "cached", True
        seen: list[object] = []
        future = scheduler.jobs.submit(hit, add_callback=lambda f: seen.append(f.result()))
        assert future.result(timeout=0) == "cached"
        assert seen == ["cached"]
        broken = FakeJob("bad url")
        broken.settled, broken.settled_error = True, HttpError.of(2300003)
        assert isinstance(scheduler.jobs.submit(broken).exception(timeout=0), HttpError)
        assert scheduler.jobs.threads == []  # nothing was queued, so no worker started
    stats = scheduler.stats()
    assert (stats.submitted, stats.completed, stats.cache_hits, stats.failed) == (2, 1, 1, 1)


# -- futures with the standard tools ------------------------------------------------------


@pytest.mark.timeout(30)
def test_scheduler_futures_work_with_wait_as_completed_and_asyncio() -> None:
    with Scheduler(max_workers=4) as scheduler:
        futures = [scheduler.jobs.submit(FakeJob(i, host=f"h{i % 3}")) for i in range(20)]
        assert {f.result() for f in as_completed(futures, timeout=10)} == set(range(20))
        assert not wait(futures, timeout=10, return_when=ALL_COMPLETED).not_done

        async def main() -> list[object]:
            fs = [scheduler.jobs.submit(FakeJob(i)) for i in range(5)]
            return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in fs)))

        assert asyncio.run(main()) == [0, 1, 2, 3, 4]


# -- shutdown ----------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_shutdown_cancel_pending_leaves_no_future_pending() -> None:
    scheduler, gate = paused(max_per_host=1)
    futures = [scheduler.jobs.submit(FakeJob(i, host=f"h{i % 4}")) for i in range(50)]
    threading.Timer(0.05, gate.set).start()
    scheduler.shutdown(wait=True, cancel_pending=True)
    assert all(f.done() for f in futures)
    assert all(f.cancelled() for f in futures)
    assert not wait(futures, timeout=5).not_done
    with pytest.raises(CancelledError):
        futures[0].result()
    stats = scheduler.stats()
    assert (stats.submitted, stats.cancelled, stats.queued, stats.running) == (51, 50, 0, 0)
    assert ended(stats) == stats.submitted
    scheduler.shutdown()  # idempotent


@pytest.mark.timeout(30)
def test_shutdown_without_cancel_runs_everything_queued() -> None:
    scheduler, gate = paused(max_per_host=2)
    futures = [scheduler.jobs.submit(FakeJob(i, host=f"h{i % 3}")) for i in range(30)]
    threading.Timer(0.05, gate.set).start()
    scheduler.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futures] == list(range(30))
    assert not any(t.is_alive() for t in scheduler.jobs.threads)
    stats = scheduler.stats()
    assert (stats.completed, stats.submitted) == (31, 31)


def test_submit_after_shutdown_raises_http_error_that_is_a_runtime_error() -> None:
    scheduler = Scheduler()
    scheduler.shutdown()
    with pytest.raises(SchedulerShutdownError, match="shut down") as info:
        scheduler.jobs.submit(FakeJob("late"))
    assert isinstance(info.value, HttpError)
    assert isinstance(info.value, RuntimeError)
    assert info.value.code == UNKNOWN
    with pytest.raises(SchedulerShutdownError):
        scheduler.submit("http://example.invalid/")


def test_max_queue_rejects_beyond_the_limit() -> None:
    scheduler, gate = paused(max_queue=2)
    try:
        scheduler.jobs.submit(FakeJob(1))
        scheduler.jobs.submit(FakeJob(2))
        with pytest.raises(QueueFullError, match=r"max_queue: the queue is full \(2 waiting\)"):
            scheduler.jobs.submit(FakeJob(3))
        assert scheduler.stats().submitted == 3  # the gate and two queued
    finally:
        gate.set()
        scheduler.shutdown()


# -- construction, threads, repr ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_workers": 0}, "max_workers"),
        ({"max_per_host": -1}, "max_per_host"),
        ({"max_queue": 0}, "max_queue"),
        ({"max_workers": True}, "max_workers"),
    ],
)
def test_constructor_rejects_bad_values_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(HttpError, match=field) as info:
        Scheduler(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == 401


@pytest.mark.timeout(30)
def test_workers_start_lazily_as_named_daemon_threads() -> None:
    gate = threading.Event()
    with Scheduler(max_workers=3, name="crawl") as scheduler:
        assert scheduler.jobs.threads == []
        futures = [scheduler.jobs.submit(FakeJob(i, host=f"h{i}", gate=gate)) for i in range(5)]
        names = sorted(t.name for t in scheduler.jobs.threads)
        assert names == ["crawl-worker-0", "crawl-worker-1", "crawl-worker-2"]
        assert all(t.daemon for t in scheduler.jobs.threads)
        gate.set()
        wait(futures, timeout=10)


@pytest.mark.timeout(30)
def test_repr_summarises_requests_and_hosts() -> None:
    gate = threading.Event()
    scheduler = Scheduler(max_workers=2, max_per_host=1, name="netstack")
    try:
        jobs = [FakeJob("a0", host="a", gate=gate), FakeJob("b0", host="b", gate=gate)]
        for job in jobs:
            scheduler.jobs.submit(job)
        for job in jobs:
            assert job.started.wait(10)
        for i in range(3):
            scheduler.jobs.submit(FakeJob(i, host="c"))
        scheduler.jobs.submit(FakeJob("a1", host="a"))
        assert repr(scheduler) == (
            "<Scheduler 'netstack' [Requests: 2 running, 4 queued | Hosts: 1 ready, 2 saturated]>"
        )
    finally:
        gate.set()
        scheduler.shutdown()
    assert repr(scheduler) == (
        "<Scheduler 'netstack' shut down [Requests: 0 running, 0 queued | Hosts: 0 ready, "
        "0 saturated]>"
    )


# -- memory ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_queued_request_costs_at_most_2_kib() -> None:
    """RequestFuture + queue entry + a minimal job, at 100,000 queued requests."""
    n = 100_000
    scheduler, gate = paused()
    try:
        urls = [f"http://host{i % 100}/item/{i}" for i in range(n)]
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            futures = [
                scheduler.jobs.submit(MinimalJob(urls[i], f"host{i % 100}", i % 10 + 1))
                for i in range(n)
            ]
            per_request = (tracemalloc.get_traced_memory()[0] - before) / n
        finally:
            tracemalloc.stop()
        assert len(futures) == n
        assert per_request <= 2048, per_request
    finally:
        gate.set()
        scheduler.shutdown(cancel_pending=True)


@pytest.mark.timeout(30)
def test_batch_is_queued_all_or_nothing_and_settles_the_settled() -> None:
    scheduler, gate = paused(max_queue=3)
    try:
        with pytest.raises(QueueFullError, match="max_queue"):
            scheduler.jobs.submit_many([FakeJob(i) for i in range(4)])
        assert scheduler.stats().queued == 0
        hit = FakeJob("hit")
        hit.settled, hit.settled_result, hit.from_cache = True, "cached", True
        futures = scheduler.jobs.submit_many([FakeJob(0, priority=1), hit, FakeJob(2, priority=9)])
        assert futures[1].result(timeout=0) == "cached"
        assert scheduler.stats().queued == 2
        gate.set()
        assert [f.result(timeout=10) for f in futures] == [0, "cached", 2]
    finally:
        gate.set()
        scheduler.shutdown()
    stats = scheduler.stats()
    assert (stats.submitted, stats.completed, stats.cache_hits) == (4, 4, 1)
