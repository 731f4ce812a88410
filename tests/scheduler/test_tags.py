"""Tags: cancel_all, set_priority_all and per-tag counts, against a model (hypothesis)."""

from __future__ import annotations

import threading
from concurrent.futures import wait

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_servers import origins
from scheduler_fakes import FakeJob

from netstack import HttpError, RequestFuture, Scheduler, TagStats
from netstack.validation import resolve_options


class TaggedJob(FakeJob):
    __slots__ = ("tag",)

    def __init__(self, name: object, tag: str | None, **kwargs: object) -> None:
        super().__init__(name, **kwargs)  # type: ignore[arg-type]
        self.tag = tag


def paused(**kwargs: object) -> tuple[Scheduler, threading.Event]:
    scheduler = Scheduler(max_workers=1, **kwargs)  # type: ignore[arg-type]
    gate = threading.Event()
    job = FakeJob("gate", host="gate-host", gate=gate)
    scheduler.jobs.submit(job)
    assert job.started.wait(10)
    return scheduler, gate


TAGS = st.sampled_from(["x", "y", None])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), TAGS, st.integers(1, 5)),
        st.tuples(st.just("cancel_all"), st.sampled_from(["x", "y", "z"]), st.just(0)),
        st.tuples(st.just("set_priority_all"), st.sampled_from(["x", "y"]), st.integers(1, 5)),
    ),
    max_size=40,
)


@pytest.mark.timeout(120)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_tag_operations_match_the_model(ops: list[tuple[str, str | None, int]]) -> None:
    scheduler, gate = paused()
    order: list[int] = []
    futures: list[RequestFuture] = []
    tags: list[str | None] = []
    live: dict[int, int] = {}  # request -> priority, for requests still waiting
    try:
        for op, tag, priority in ops:
            if op == "submit":
                i = len(futures)
                job = TaggedJob(i, tag, priority=priority, on_run=lambda j: order.append(j.name))
                futures.append(scheduler.jobs.submit(job))
                tags.append(tag)
                live[i] = priority
            elif op == "cancel_all":
                assert tag is not None
                expected = [i for i in live if tags[i] == tag]
                assert scheduler.cancel_all(tag) == len(expected)
                for i in expected:
                    del live[i]
            else:
                assert tag is not None
                expected = [i for i in live if tags[i] == tag]
                assert scheduler.set_priority_all(tag, priority) == len(expected)
                live.update(dict.fromkeys(expected, priority))
        snapshot = scheduler.stats().tags
        for tag in ("x", "y"):
            mine = [i for i in range(len(futures)) if tags[i] == tag]
            if not mine:
                assert tag not in snapshot
                continue
            waiting = sum(1 for i in mine if i in live)
            assert snapshot[tag] == TagStats(
                submitted=len(mine),
                queued=waiting,
                running=0,
                completed=0,
                failed=0,
                cancelled=len(mine) - waiting,
            )
        gate.set()
        wait(futures, timeout=20)
    finally:
        gate.set()
        scheduler.shutdown()
    assert order == sorted(live, key=lambda i: (-live[i], i))
    for tag, stats in scheduler.stats().tags.items():
        mine = [i for i in range(len(futures)) if tags[i] == tag]
        assert stats.completed == sum(1 for i in mine if i in live)
        assert stats.completed + stats.cancelled == stats.submitted == len(mine)
        assert (stats.queued, stats.running) == (0, 0)


@pytest.mark.timeout(30)
def test_running_requests_count_as_running_and_are_not_cancelled() -> None:
    gate = threading.Event()
    with Scheduler(max_workers=1) as scheduler:
        job = TaggedJob("r", "t", gate=gate)
        running = scheduler.jobs.submit(job)
        assert job.started.wait(10)
        waiting = scheduler.jobs.submit(TaggedJob("w", "t"))
        assert scheduler.stats().tags["t"] == TagStats(
            submitted=2, queued=1, running=1, completed=0, failed=0, cancelled=0
        )
        assert scheduler.cancel_all("t") == 1
        assert waiting.cancelled()
        gate.set()
        assert running.result(timeout=10) == "r"
    assert scheduler.stats().tags["t"] == TagStats(
        submitted=2, queued=0, running=0, completed=1, failed=0, cancelled=1
    )


@pytest.mark.timeout(30)
def test_tag_option_on_real_requests_and_its_validation() -> None:
    with origins(1) as (origin,), Scheduler() as scheduler:
        futures = scheduler.submit_batch(
            [
                (f"{origin.url}/ok", {"tag": "crawl"}),
                (f"{origin.url}/flaky?fail=1", {"tag": "crawl"}),
            ]
        )
        assert futures[0].tag == "crawl"
        wait(futures, timeout=10)
        stats = scheduler.stats().tags["crawl"]
    assert (stats.submitted, stats.completed) == (2, 2)
    assert resolve_options({"tag": "a"}).tag == "a"
    for bad in ("", 3, "x" * 257):
        with pytest.raises(HttpError, match="tag") as info:
            resolve_options({"tag": bad})
        assert info.value.code == 401
    with pytest.raises(HttpError, match="tag"):
        Scheduler().cancel_all("")
