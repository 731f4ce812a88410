"""A stateful model of the scheduler: submit, set_priority, cancel, complete, shutdown.

One worker and jobs that block until the test releases them, so the machine
decides exactly when each dispatch happens. The model is a list of waiting
``(name, priority, seq)`` and the one running name; the scheduler must
dispatch ``min((-priority, seq))`` each time the running job completes, and
its stats must match the model's counts after every step.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from scheduler_fakes import FakeJob

from netstack.errors import HttpError
from netstack.scheduler import RequestFuture, Scheduler
from netstack.scheduler.scheduler import SchedulerShutdownError

WAIT = 10.0
priorities = st.integers(1, 5) | st.sampled_from([1, 1000])
hosts = st.sampled_from(["a", "b", "c"])


class SchedulerMachine(RuleBasedStateMachine):
    """The real scheduler and its model, step by step."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduler = Scheduler(max_workers=1, max_per_host=2, name="machine")
        self.started: list[int] = []  # job names in the order the worker started them
        self.jobs: list[FakeJob] = []
        self.futures: list[RequestFuture] = []
        self.gates: list[threading.Event] = []
        # The model.
        self.waiting: dict[int, tuple[int, int]] = {}  # name -> (priority, seq)
        self.running: int | None = None
        self.seq = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.shut = False

    def _new_job(self, host: str, priority: int) -> tuple[int, FakeJob]:
        name = len(self.jobs)
        gate = threading.Event()
        job = FakeJob(
            name,
            host=host,
            priority=priority,
            gate=gate,
            on_run=lambda j: self.started.append(j.name),
        )
        self.jobs.append(job)
        self.gates.append(gate)
        return name, job

    @initialize()
    def occupy_the_worker(self) -> None:
        name, job = self._new_job("gate", 1)
        self.futures.append(self.scheduler.jobs.submit(job))
        assert job.started.wait(WAIT)
        self.running = name

    @precondition(lambda self: not self.shut)
    @rule(host=hosts, priority=priorities)
    def submit(self, host: str, priority: int) -> None:
        name, job = self._new_job(host, priority)
        self.futures.append(self.scheduler.jobs.submit(job))
        self.seq += 1
        if self.running is None:  # an idle worker takes it at once
            assert job.started.wait(WAIT)
            self.running = name
        else:
            self.waiting[name] = (priority, self.seq)

    @precondition(lambda self: self.shut)
    @rule(host=hosts)
    def submit_after_shutdown_is_refused(self, host: str) -> None:
        _, job = self._new_job(host, 1)
        with pytest.raises(SchedulerShutdownError) as info:
            self.scheduler.jobs.submit(job)
        assert isinstance(info.value, HttpError)
        self.jobs.pop()
        self.gates.pop()

    @precondition(lambda self: len(self.futures) > 1)
    @rule(data=st.data(), priority=priorities)
    def set_priority(self, data: st.DataObject, priority: int) -> None:
        name = data.draw(st.integers(1, len(self.futures) - 1), label="job")
        future = self.futures[name]
        before = future.priority
        future.set_priority(priority)
        if name in self.waiting:
            self.waiting[name] = (priority, self.waiting[name][1])
            assert future.priority == priority
        else:
            assert future.priority == before  # no effect once started or ended

    @precondition(lambda self: len(self.futures) > 1)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        name = data.draw(st.integers(1, len(self.futures) - 1), label="job")
        cancelled = self.futures[name].cancel()
        if name in self.waiting:
            assert cancelled
            del self.waiting[name]
            self.cancelled += 1
            assert self.futures[name].cancelled()
        else:  # Future semantics: True again for a cancelled one, False once it ran
            assert cancelled == self.futures[name].cancelled()
            assert not (cancelled and self.jobs[name].ran)

    @precondition(lambda self: self.running is not None)
    @rule(fail=st.booleans())
    def worker_completes(self, fail: bool) -> None:
        name = self.running
        assert name is not None
        if fail:
            self.jobs[name].error = HttpError.of(2300056)
        self.gates[name].set()
        future = self.futures[name]
        if fail:
            assert isinstance(future.exception(timeout=WAIT), HttpError)
            self.failed += 1
        else:
            assert future.result(timeout=WAIT) == name
            self.completed += 1
        self.running = None
        if self.waiting:
            expected = min(self.waiting, key=lambda n: (-self.waiting[n][0], self.waiting[n][1]))
            assert self.jobs[expected].started.wait(WAIT), f"job {expected} never started"
            del self.waiting[expected]
            self.running = expected

    @precondition(lambda self: not self.shut)
    @rule(cancel_pending=st.booleans())
    def shutdown(self, cancel_pending: bool) -> None:
        self.scheduler.shutdown(wait=False, cancel_pending=cancel_pending)
        self.shut = True
        if cancel_pending:
            for name in self.waiting:
                assert self.futures[name].cancelled()
            self.cancelled += len(self.waiting)
            self.waiting.clear()

    @invariant()
    def dispatch_order_is_the_models(self) -> None:
        expected = [n for n in range(len(self.jobs)) if self.jobs[n].ran]
        assert sorted(self.started) == expected
        if self.running is not None:
            assert self.started[-1] == self.running

    @invariant()
    def stats_add_up(self) -> None:
        stats = self.scheduler.stats()
        assert stats.submitted == len(self.futures)
        assert stats.queued == len(self.waiting)
        assert stats.running == (1 if self.running is not None else 0)
        assert (stats.completed, stats.failed, stats.cancelled) == (
            self.completed,
            self.failed,
            self.cancelled,
        )
        ended = stats.completed + stats.failed + stats.cancelled
        assert ended + stats.queued + stats.running == stats.submitted

    def teardown(self) -> None:
        for gate in self.gates:
            gate.set()
        self.scheduler.shutdown(wait=True)
        assert all(f.done() for f in self.futures), "a future never ended"
        stats = self.scheduler.stats()
        assert stats.completed + stats.failed + stats.cancelled == stats.submitted
        assert (stats.queued, stats.running) == (0, 0)


SchedulerMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSchedulerMachine = pytest.mark.timeout(300)(SchedulerMachine.TestCase)
