"""Aging: each pop takes the best effective priority; starvation is bounded (hypothesis)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import wait

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler_fakes import FakeJob

from netstack import HttpError, Scheduler
from netstack.dispatch.aging import Aging, effective_priority
from netstack.dispatch.queue import Entry, HostQueue

INTERVAL = 2.0

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 1000), st.floats(0, 50)),
        st.tuples(st.just("pop"), st.just(0), st.floats(0, 50)),
        st.tuples(st.just("reprioritise"), st.integers(1, 1000), st.floats(0, 50)),
    ),
    max_size=60,
)


@given(events=EVENTS)
def test_every_pop_returns_the_highest_effective_priority_then_the_oldest(
    events: list[tuple[str, int, float]],
) -> None:
    """The documented formula, evaluated at pop time, against what the queue returns."""
    aging = Aging(INTERVAL, origin=0.0)
    queue: HostQueue[int] = HostQueue(max_per_host=10_000)
    now = 0.0
    waiting: dict[int, tuple[int, float, Entry[int]]] = {}  # id -> (priority, enqueued, entry)
    for n, (op, priority, dt) in enumerate(events):
        now += dt
        if op == "push":
            i = n
            waiting[i] = (priority, now, queue.push(i, "h", priority, aging.base(now)))
        elif op == "reprioritise" and waiting:
            i = min(waiting)
            _, enqueued, entry = waiting[i]
            queue.set_priority(entry, priority)
            waiting[i] = (priority, enqueued, entry)
        elif op == "pop":
            entry = queue.pop()
            if not waiting:
                assert entry is None
                continue
            assert entry is not None
            queue.done("h")

            def score(i: int, now: float = now) -> tuple[float, int]:
                p, t, e = waiting[i]
                return (-effective_priority(p, now - t, INTERVAL), e.seq)

            best = min(waiting, key=score)
            # Equal within float rounding: then either may come first.
            assert entry.item == best or abs(score(entry.item)[0] - score(best)[0]) < 1e-6
            del waiting[entry.item]


@settings(deadline=None)  # up to 10^4 pushes and pops per example: slow on a loaded machine
@given(low=st.integers(1, 999), period=st.floats(0.1, 5))
def test_a_low_priority_request_runs_within_the_documented_bound(low: int, period: float) -> None:
    """Under a stream of priority-1000 arrivals (one per period, one pop per period)."""
    aging = Aging(INTERVAL, origin=0.0)
    queue: HostQueue[str] = HostQueue(max_per_host=10**6)
    queue.push("low", "h", low, aging.base(0.0))
    bound = (1000 - low) * INTERVAL
    t = 0.0
    while True:
        t += period
        queue.push("high", "h", 1000, aging.base(t))
        entry = queue.pop()
        assert entry is not None
        queue.done("h")
        if entry.item == "low":
            break
        assert t <= bound + period, "starved past the bound"


def test_set_priority_keeps_the_age() -> None:
    aging = Aging(1.0, origin=0.0)
    queue: HostQueue[str] = HostQueue(max_per_host=10)
    old = queue.push("old", "h", 1, aging.base(0.0))
    queue.push("new", "h", 5, aging.base(10.0))  # at t=10: old is worth 11, new 5
    queue.set_priority(old, 2)  # worth 12 now: still first
    first = queue.pop()
    assert first is not None
    assert first.item == "old"


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "1", True])
def test_bad_aging_raises_401(bad: object) -> None:
    with pytest.raises(HttpError, match="aging") as info:
        Scheduler(aging=bad)  # type: ignore[arg-type]
    assert info.value.code == 401


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("aging", "expected"), [(None, ["high", "low"]), (0.02, ["low", "high"])])
def test_scheduler_aging_lets_an_old_low_priority_request_overtake(
    aging: float | None, expected: list[str]
) -> None:
    """low (1) waits 0.5 s, worth +25 with aging=0.02, then high (10) arrives."""
    scheduler = Scheduler(max_workers=1, aging=aging)
    gate = threading.Event()
    gate_job = FakeJob("gate", host="g", gate=gate)
    scheduler.jobs.submit(gate_job)
    assert gate_job.started.wait(10)
    order: list[object] = []
    try:
        low = scheduler.jobs.submit(
            FakeJob("low", priority=1, on_run=lambda j: order.append(j.name))
        )
        time.sleep(0.5)
        high = scheduler.jobs.submit(
            FakeJob("high", priority=10, on_run=lambda j: order.append(j.name))
        )
        assert high.priority == 10  # the reported priority is the given one
        gate.set()
        wait([low, high], timeout=10)
    finally:
        gate.set()
        scheduler.shutdown()
    assert order == expected
