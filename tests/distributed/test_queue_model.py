"""The Lua queue against a model, driven by hypothesis on a real redis-server.

Random pushes, batched leases by several workers, outcomes, retries, leases
given back, cancels, re-prioritising and limit changes: every lease is the best waiting request
whose host has a free slot (priority, then submission order), per-host
limits hold, and every request ends exactly once.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from netstack.distributed.connect import connect
from netstack.distributed.ops import Finished, Pushed, QueueOps

pytestmark = pytest.mark.timeout(300)

HOSTS = ("a", "b", "c")
WORKERS = ("w1", "w2")


class QueueModel(RuleBasedStateMachine):
    url = ""

    def __init__(self) -> None:
        super().__init__()
        self.ops = QueueOps(connect(self.url), f"model-{uuid.uuid4().hex[:8]}")
        self.max = 8
        self.waiting: dict[int, tuple[int, str]] = {}  # id -> (priority, host)
        self.leased: dict[int, tuple[str, str, int]] = {}  # id -> (worker, host, priority)
        self.ended: set[int] = set()

    def teardown(self) -> None:
        self.ops.clear()
        self.ops.client.close()

    def _inflight(self, host: str) -> int:
        return sum(1 for _, h, _ in self.leased.values() if h == host)

    def _expected(self, want: int) -> list[int]:
        inflight = {h: self._inflight(h) for h in HOSTS}
        order = sorted(self.waiting, key=lambda i: (-self.waiting[i][0], i))
        taken = []
        for request_id in order:
            if len(taken) == want:
                break
            host = self.waiting[request_id][1]
            if inflight[host] < self.max:
                inflight[host] += 1
                taken.append(request_id)
        return taken

    @rule(
        items=st.lists(
            st.tuples(st.sampled_from(HOSTS), st.integers(1, 1000)), min_size=1, max_size=6
        )
    )
    def push(self, items: list[tuple[str, int]]) -> None:
        _, ids = self.ops.push([Pushed(h, p, "{}") for h, p in items], None, "e")
        for request_id, (host, priority) in zip(ids, items, strict=True):
            self.waiting[request_id] = (priority, host)

    @rule(worker=st.sampled_from(WORKERS), want=st.integers(0, 5), data=st.data())
    def exchange(self, worker: str, want: int, data: Any) -> None:
        mine = sorted(i for i, (w, _, _) in self.leased.items() if w == worker)
        done = data.draw(st.lists(st.sampled_from(mine), unique=True) if mine else st.just([]))
        how = [data.draw(st.sampled_from(["completed", "failed", "retry"])) for _ in done]
        finished = [Finished(i, c, "{}", self.leased[i][1]) for i, c in zip(done, how, strict=True)]
        for request_id, counter in zip(done, how, strict=True):
            _, host, priority = self.leased.pop(request_id)
            if counter == "retry":  # due at once: waits at its old place again
                self.waiting[request_id] = (priority, host)
            else:
                self.ended.add(request_id)
        expected = self._expected(want)
        result = self.ops.exchange(worker, 60_000, want, finished)
        assert result.recorded == [True] * len(done)
        assert [p.request_id for p in result.popped] == expected
        for popped in result.popped:
            priority, host = self.waiting.pop(popped.request_id)
            assert (popped.priority, popped.host) == (priority, host)
            self.leased[popped.request_id] = (worker, host, priority)

    @precondition(lambda self: bool(self.leased))
    @rule(data=st.data())
    def give_back(self, data: Any) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.leased)))
        worker, host, priority = self.leased[request_id]
        assert self.ops.give_back("someone else", [request_id]) == 0
        assert self.ops.give_back(worker, [request_id]) == 1
        del self.leased[request_id]
        self.waiting[request_id] = (priority, host)

    @precondition(lambda self: bool(self.waiting))
    @rule(data=st.data())
    def cancel(self, data: Any) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.waiting)))
        assert self.ops.cancel([request_id]) == [True]
        del self.waiting[request_id]
        self.ended.add(request_id)

    @precondition(lambda self: bool(self.leased))
    @rule(data=st.data())
    def cancel_leased_is_refused(self, data: Any) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.leased)))
        assert self.ops.cancel([request_id]) == [False]
        assert not self.ops.set_priority(request_id, 5)

    @precondition(lambda self: bool(self.waiting))
    @rule(data=st.data(), priority=st.integers(1, 1000))
    def set_priority(self, data: Any, priority: int) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.waiting)))
        assert self.ops.set_priority(request_id, priority)
        self.waiting[request_id] = (priority, self.waiting[request_id][1])

    @rule(limit=st.integers(1, 3))
    def configure(self, limit: int) -> None:
        self.ops.configure(limit)
        self.max = limit

    @invariant()
    def counts_agree(self) -> None:
        counts = self.ops.counts()
        assert counts["leased"] == len(self.leased)
        assert counts["waiting"] == len(self.waiting)
        ended = counts["completed"] + counts["failed"] + counts["cancelled"]
        assert ended == len(self.ended)
        assert counts["duplicates"] == 0


def test_the_lua_queue_keeps_order_limits_and_one_end_per_request(redis_url: str) -> None:
    QueueModel.url = redis_url
    run_state_machine_as_test(
        QueueModel,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
