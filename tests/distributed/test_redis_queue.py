"""RedisQueue against a real redis-server, in process: order, limits, leases, faults.

Workers here are ``QueueOps`` calls made by the test, so every step is
deterministic; ``test_workers.py`` runs real worker processes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest
from tests.distributed.servers import RedisServer

from netstack import HttpError, RedisQueue, Scheduler
from netstack.distributed.connect import connect
from netstack.distributed.ops import MOST_PER_CALL, Finished, Pushed, QueueOps, job_field


@pytest.fixture
def ops(redis_url: str, queue_name: str) -> Iterator[QueueOps]:
    queue_ops = QueueOps(connect(redis_url), queue_name)
    try:
        yield queue_ops
    finally:
        queue_ops.clear()
        queue_ops.client.close()


@pytest.fixture
def scheduler(redis_url: str, queue_name: str) -> Iterator[Scheduler]:
    queue = RedisQueue(redis_url, queue_name)
    s = Scheduler(queue=queue)
    try:
        yield s
    finally:
        s.shutdown(wait=False, cancel_pending=True)
        queue.close()


def _push(ops: QueueOps, items: list[tuple[str, int, str]]) -> list[int]:
    return ops.push([Pushed(h, p, payload) for h, p, payload in items], None, "epoch")[1]


def _drain(ops: QueueOps, worker: str = "w") -> list[int]:
    taken = []
    while (popped := ops.pop(worker, 30_000)) is not None:
        taken.append(popped.request_id)
        ops.finish(worker, popped.request_id, "completed", "")
    return taken


def test_larger_priority_first_then_submission_order(ops: QueueOps) -> None:
    priorities = [1, 5, 1, 1000, 5, 3, 1000, 1]
    ids = _push(ops, [(f"h{i % 3}", p, "{}") for i, p in enumerate(priorities)])
    expected = [i for _, i in sorted(zip((-p for p in priorities), ids, strict=True))]
    assert expected == _drain(ops)


def test_scheduler_futures_set_priority_and_cancel_in_redis(
    scheduler: Scheduler, ops: QueueOps, redis_url: str, queue_name: str
) -> None:
    futures = [scheduler.submit(f"http://127.0.0.1:9/{i}", {"priority": 10}) for i in range(4)]
    futures[3].set_priority(500)
    scheduler.set_priority(futures[2], 400)
    assert futures[1].cancel()
    assert futures[1].cancelled()
    assert (futures[3].priority, futures[2].priority) == (500, 400)
    order = []
    while (popped := ops.pop("w", 30_000)) is not None:
        order.append(popped.request_id)
    assert [futures[3].request_id, futures[2].request_id, futures[0].request_id] == order
    # Leased now: too late for both.
    assert not futures[0].cancel()
    futures[0].set_priority(900)
    assert futures[0].priority == 10
    other = RedisQueue(redis_url, queue_name)
    try:
        counts = other.stats()
    finally:
        other.close()
    assert (counts.submitted, counts.cancelled, counts.leased, counts.waiting) == (4, 1, 3, 0)


def test_max_per_host_holds_across_workers_and_frees_on_finish(ops: QueueOps) -> None:
    ops.configure(2)
    a = _push(ops, [("a", 100, "{}")] * 3)
    b = _push(ops, [("b", 1, "{}")])
    first = [ops.pop(f"w{i}", 30_000) for i in range(4)]
    taken = [p.request_id if p else None for p in first]
    # Host a is saturated after two: the third worker gets b's lower priority request.
    assert [a[0], a[1], b[0], None] == taken
    ops.finish("w0", a[0], "completed", "")
    popped = ops.pop("w9", 30_000)
    assert popped is not None
    assert a[2] == popped.request_id


def test_a_expired_lease_returns_the_request_to_its_place(ops: QueueOps) -> None:
    first, _second = _push(ops, [("h", 5, "{}"), ("h", 5, "{}")])
    popped = ops.pop("dead", 300)
    assert popped is not None
    assert (first, 1) == (popped.request_id, popped.attempt)
    leases = ops.client.zrange(ops.key("leases"), 0, -1)
    assert [m.decode() for m in leases] == [f"{job_field(first)}@dead"]
    time.sleep(0.4)
    again = ops.pop("alive", 30_000)
    assert again is not None
    assert (first, 2) == (again.request_id, again.attempt)  # ahead of `second`: its place kept
    assert ops.counts()["expired"] == 1
    assert [first] == ops.renew("dead", [first], 30_000)  # the dead worker lost it


def test_an_outcome_is_recorded_once(ops: QueueOps) -> None:
    (request_id,) = ops.push([Pushed("h", 1, "{}")], "p", "epoch")[1]
    assert ops.pop("a", 30_000) is not None
    assert ops.finish("a", request_id, "completed", '{"id": 1}')
    assert not ops.finish("b", request_id, "completed", '{"id": 1}')
    assert ops.client.llen(ops.key("reply:p")) == 1
    counts = ops.counts()
    assert (counts["completed"], counts["duplicates"]) == (1, 1)


@pytest.mark.parametrize(
    "outcome",
    ["", " ", "7 completed 0 x", '{"id": 1, "t": "a b\nc"}', "é \u2028 \x00 ✓ " * 50],
)
def test_outcomes_reach_their_producer_as_written(ops: QueueOps, outcome: str) -> None:
    """Each outcome travels as one ``<id> <counter> <retry ms> <outcome>`` argument:
    spaces, newlines, digits and NUL inside an outcome are its own."""
    ids = ops.push([Pushed("h", 1, "{}"), Pushed("h", 1, "{}")], "p", "epoch")[1]
    assert len(ops.pop_many("a", 30_000, 2)) == 2
    finished = [Finished(ids[0], "completed", outcome, "h"), Finished(ids[1], "failed", "x y", "h")]
    done = ops.exchange("a", 30_000, 0, finished)
    assert done.recorded == [True, True]
    assert ops.client.lrange(ops.key("reply:p"), 0, -1) == [outcome.encode(), b"x y"]
    counts = ops.counts()
    assert (counts["completed"], counts["failed"], counts["leased"]) == (1, 1, 0)


def test_large_lists_go_to_redis_in_chunks(ops: QueueOps) -> None:
    """Lua unpacks at most about 8,000 values into one command: one call takes at most
    MOST_PER_CALL leases and records at most that many; renew, give back and cancel chunk."""
    ops.configure(100_000)
    ids = []
    for _ in range(9):
        ids += ops.push([Pushed(f"h{i % 50}", 1, "{}") for i in range(1000)], "p", "e")[1]
    leased = []
    while len(leased) < len(ids):
        popped = ops.exchange("w", 30_000, 9000).popped
        assert 0 < len(popped) <= MOST_PER_CALL
        leased += [p.request_id for p in popped]
    assert sorted(leased) == ids
    assert ops.renew("w", ids, 30_000) == []
    with pytest.raises(ValueError, match="at most"):
        ops.exchange("w", 30_000, 0, [Finished(i, "completed", "") for i in ids[:1001]])
    assert ops.give_back("w", ids) == len(ids)
    assert (ops.counts()["leased"], ops.counts()["waiting"]) == (0, len(ids))
    assert ops.cancel(ids) == [True] * len(ids)
    assert ops.counts()["waiting"] == 0


def test_give_back_and_finish_leave_no_lease_behind(ops: QueueOps) -> None:
    ids = _push(ops, [("h", 1, "{}"), ("h", 2, "{}"), ("g", 1, "{}")])
    taken = [ops.pop("w", 30_000) for _ in ids]
    assert ops.give_back("w", [p.request_id for p in taken if p]) == 3
    assert ops.give_back("other", ids) == 0  # only the owner gives back
    assert sorted(ids) == sorted(_drain(ops))
    for key in ("leases", "q", "job", "park:h", "park:g"):
        assert ops.client.exists(ops.key(key)) == 0, key
    assert not [f for f in ops.client.hkeys(ops.key("state")) if f[:2] in (b"i:", b"p:")]
    assert ops.counts()["returned"] == 3


def test_fire_and_forget_futures_resolve_once_queued(redis_url: str, queue_name: str) -> None:
    queue = RedisQueue(redis_url, queue_name, want_results=False)
    with Scheduler(queue=queue) as scheduler:
        futures = scheduler.submit_batch([f"http://127.0.0.1:9/{i}" for i in range(3)])
        assert [f.result(timeout=5) for f in futures] == [None] * 3
        ids = [f.request_id for f in futures]
        assert ids == sorted(ids)
        assert queue.set_priority(ids[2], 9)
        assert queue.cancel(ids[0])
        assert not queue.cancel(ids[0])
        assert len(queue) == 2
        assert scheduler.stats().completed == 3
    queue2 = RedisQueue(redis_url, queue_name)
    try:
        queue2.clear()
        assert len(queue2) == 0
    finally:
        queue2.close()


def test_events_and_untravelable_options_are_401_and_queue_nothing(
    scheduler: Scheduler,
) -> None:
    with pytest.raises(HttpError) as caught:
        scheduler.submit("http://127.0.0.1:9/", events={"dataReceive": print})
    assert caught.value.code == 401
    assert "cannot travel" in str(caught.value)
    with pytest.raises(HttpError) as caught:
        scheduler.submit_batch(
            ["http://127.0.0.1:9/", ("http://127.0.0.1:9/", {"extraData": {"x": object()}})]
        )
    assert caught.value.code == 401
    assert scheduler.stats().submitted == 0


def test_a_bad_url_settles_at_submit_without_queueing(scheduler: Scheduler) -> None:
    future = scheduler.submit("http://[bad/")
    with pytest.raises(HttpError):
        future.result(timeout=5)
    assert scheduler.stats().failed == 1


def test_unreachable_redis_is_a_clear_error_naming_the_url() -> None:
    from tests.distributed.servers import free_port

    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(HttpError) as caught:
        RedisQueue(url)
    assert caught.value.code == 2300007
    assert f"redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_without_the_redis_extra_a_401_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(HttpError) as caught:
        RedisQueue("redis://127.0.0.1:1/0")
    assert caught.value.code == 401
    assert "netstack[redis]" in str(caught.value)


def test_redis_lost_mid_run_makes_submit_fail_with_http_error(redis_server: RedisServer) -> None:
    own = RedisServer()
    own.start()
    try:
        scheduler = Scheduler(queue=RedisQueue(own.url, "lost"))
        scheduler.submit("http://127.0.0.1:9/a")
        own.stop()
        with pytest.raises(HttpError) as caught:
            scheduler.submit("http://127.0.0.1:9/b")
        assert caught.value.code == 2300007
        assert own.url in str(caught.value)
        scheduler.shutdown(wait=False)
    finally:
        own.close()
