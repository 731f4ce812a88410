"""The worker's side of RedisBackend: its items are leases, and each outcome is recorded once.

A ``netstack worker`` runs its fetch loop over a ``RedisBackend`` whose items
are the leases themselves (``leases_are_items``): ``take`` leases, ``record``
and ``retry_at`` say how a lease ended, and the next ``take`` tells which
outcomes Redis kept (``recorded``). Real redis-server, two backends standing
for two worker processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from netstack import RedisQueue
from netstack.distributed.backend import RedisBackend
from netstack.distributed.connect import connect_to
from netstack.distributed.ops import MOST_PER_CALL, Popped, QueueOps

pytestmark = pytest.mark.timeout(60)


def _worker(url: str, name: str, lease: float = 30.0) -> RedisBackend[Popped]:
    client, _ = connect_to(url)
    return RedisBackend(
        QueueOps(client, name),
        lambda p: p.payload.decode(),
        lambda p: p,
        lease=lease,
        leases_are_items=True,
    )


@pytest.fixture
def producer(redis_url: str, queue_name: str) -> Iterator[RedisBackend[str]]:
    queue = RedisQueue(redis_url, queue_name)

    def decode(popped: Popped) -> str:
        raise AssertionError(f"the producer takes nothing, got {popped}")

    try:
        yield queue.backend(lambda s: s, decode)
    finally:
        queue.clear()
        queue.close()


def _take(backend: RedisBackend[Popped], want: int = 1) -> list[Popped]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        taken = backend.take(time.monotonic(), want)
        if taken:
            return taken
        time.sleep(0.05)
    raise AssertionError("nothing came to take within 10 s")


def test_a_lease_that_expired_runs_again_and_only_the_first_outcome_counts(
    producer: RedisBackend[str], redis_url: str, queue_name: str
) -> None:
    producer.push('{"u": 1}', "a.example", 5, None, time.monotonic())
    stalled = _worker(redis_url, queue_name, lease=0.3)
    first = _take(stalled)
    assert [(p.host, p.attempt) for p in first] == [("a.example", 1)]
    time.sleep(0.6)  # the lease expires: the request waits again
    other = _worker(redis_url, queue_name)
    second = _take(other)
    assert [(p.request_id, p.attempt) for p in second] == [(first[0].request_id, 2)]
    other.record(second[0], "")
    other.take(time.monotonic(), 0)
    assert other.recorded == {first[0].request_id: True}
    stalled.record(first[0], "", failed=True)  # the stalled worker finishes too: dropped
    stalled.take(time.monotonic(), 0)
    assert stalled.recorded == {first[0].request_id: False}
    assert producer.empty


def test_a_retried_lease_comes_back_as_a_new_lease_and_can_end(
    producer: RedisBackend[str], redis_url: str, queue_name: str
) -> None:
    producer.push('{"u": 2}', "b.example", 5, None, time.monotonic())
    worker = _worker(redis_url, queue_name)
    first = _take(worker)
    worker.retry_at(first[0], time.monotonic())
    again = _take(worker)
    assert [p.request_id for p in again] == [first[0].request_id]
    worker.done(again[0])
    worker.take(time.monotonic(), 0)
    assert worker.recorded == {first[0].request_id: True}
    assert producer.empty


def test_more_finished_than_one_call_takes_are_recorded_over_several(
    redis_url: str, queue_name: str, producer: RedisBackend[str]
) -> None:
    producer.push_many([(f"job{i}", "h", 1, None) for i in range(1500)], time.monotonic())
    worker = _worker(redis_url, queue_name)
    worker.set_limit("h", 2000)
    taken: list[Popped] = []
    while len(taken) < 1500:
        taken += _take(worker, 1500)
    for popped in taken:
        worker.record(popped, "")
    assert worker.take(time.monotonic(), 0) == []
    assert sum(worker.recorded.values()) == MOST_PER_CALL
    worker.take(time.monotonic(), 0)
    assert sum(worker.recorded.values()) == 1500 - MOST_PER_CALL
    queue = RedisQueue(redis_url, queue_name)
    try:
        counts = queue.stats()
    finally:
        queue.close()
    assert (counts.completed, counts.leased, counts.waiting) == (1500, 0, 0)
