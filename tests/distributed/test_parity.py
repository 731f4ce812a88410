"""The in-process policies on a Redis queue, across ``netstack worker`` processes.

Retries wait in Redis (no worker held), tags act across producers, the
politeness pace is shared by every worker process, and the producer's host
rules are checked by the worker on every redirect hop.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pytest
from tests.distributed.servers import (
    CountingOrigin,
    Processes,
    wait_idle,
    worker_command,
)

from netstack import HttpError, PolitenessPolicy, RedisQueue, RetryPolicy, Scheduler

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def queues(redis_url: str, queue_name: str) -> Iterator[list[RedisQueue]]:
    made: list[RedisQueue] = []
    yield made
    for queue in made:
        queue.close()


def _producer(queues: list[RedisQueue], url: str, name: str, **policies: object) -> Scheduler:
    queue = RedisQueue(url, name)
    queues.append(queue)
    return Scheduler(queue=queue, **policies)  # type: ignore[arg-type]


def test_a_retry_waits_in_redis_while_a_one_thread_worker_runs_the_next_request(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    queues: list[RedisQueue],
) -> None:
    producer = _producer(
        queues, redis_url, queue_name, retry=RetryPolicy(attempts=3, backoff=1.0, jitter=0.0)
    )
    processes.start(worker_command(redis_url, queue_name, "--workers", "1"))
    wait_idle(redis_url, queue_name)
    flaky = producer.submit(f"{origin.base()}/flaky?id=f&fails=1", {"priority": 10})
    time.sleep(0.3)  # the flaky one is taken first and answered 503
    other = producer.submit(f"{origin.base()}/slow?id=o")
    response = flaky.result(timeout=30)
    assert (response.response_code, response.attempts) == (200, 2)
    assert other.result(timeout=30).result == "/slow o"
    order = [i for _, _, i in origin.record.times]
    # The one worker thread ran `o` while `f` waited out its backoff in Redis.
    assert order == ["f", "o", "f"]
    first, second = [t for t, _, i in origin.record.times if i == "f"]
    assert second - first >= 0.9
    producer.shutdown(wait=False)


def test_tags_cancel_and_reprioritise_across_producers_with_stats(
    redis_url: str, queue_name: str, queues: list[RedisQueue]
) -> None:
    mine = _producer(queues, redis_url, queue_name)
    other = _producer(queues, redis_url, queue_name)
    crawl = [mine.submit(f"http://127.0.0.1:9/c{i}", {"tag": "crawl"}) for i in range(3)]
    late = [mine.submit(f"http://127.0.0.1:9/l{i}", {"tag": "late"}) for i in range(2)]
    untagged = mine.submit("http://127.0.0.1:9/u")
    # Another producer (any process) acts on every request of the tag in Redis.
    assert other.cancel_all("crawl") == 3
    assert other.set_priority_all("late", 900) == 2
    for future in crawl:
        assert future.cancelled() or _eventually(future.cancelled)
    ops = queues[0]._ops
    order = [p.request_id for p in ops.pop_many("w", 30_000, 10)]
    assert order == [late[0].request_id, late[1].request_id, untagged.request_id]
    tags = mine.stats().tags
    assert (tags["crawl"].submitted, tags["crawl"].cancelled, tags["crawl"].queued) == (3, 3, 0)
    assert (tags["late"].submitted, tags["late"].running, tags["late"].queued) == (2, 2, 0)
    assert mine.stats().cancelled == 3
    for scheduler in (mine, other):
        scheduler.shutdown(wait=False, cancel_pending=True)


def _arrival_gaps(origin: CountingOrigin, which: Callable[[str, str], bool]) -> list[float]:
    """Seconds between consecutive arrivals at the origin of the (host, id) ``which`` keeps."""
    starts = sorted(t for t, host, request_id in origin.record.times if which(host, request_id))
    return [b - a for a, b in itertools.pairwise(starts)]


def _eventually(check: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_the_pace_of_a_host_holds_across_two_worker_processes(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    queues: list[RedisQueue],
) -> None:
    producer = _producer(queues, redis_url, queue_name, politeness=PolitenessPolicy(min_delay=0.4))
    for _ in range(2):
        processes.start(worker_command(redis_url, queue_name, "--workers", "4"))
    wait_idle(redis_url, queue_name, 2)
    futures = producer.submit_batch([f"{origin.base()}/slow?id=p{i}" for i in range(5)])
    for future in futures:
        assert future.result(timeout=30).response_code == 200
    gaps = _arrival_gaps(origin, lambda host, _: True)
    assert min(gaps) >= 0.25, gaps  # 0.4 less jitter; unpaced: milliseconds apart
    producer.shutdown(wait=False)


def test_a_worker_with_no_free_thread_leaves_a_paced_host_to_one_that_has(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    queues: list[RedisQueue],
) -> None:
    """The pace counts when a request starts: a busy worker leases no paced request
    into its prefetch room, where it would start whenever a thread frees up."""
    producer = _producer(queues, redis_url, queue_name, politeness=PolitenessPolicy(min_delay=0.4))
    processes.start(worker_command(redis_url, queue_name, "--workers", "2"))
    wait_idle(redis_url, queue_name)
    busy = [
        producer.submit(f"{origin.base(1)}/slow?ms=1500&id=b{i}", {"priority": 900})
        for i in range(2)
    ]
    assert _eventually(lambda: origin.arrivals("b0") + origin.arrivals("b1") == 2)
    paced = producer.submit_batch([f"{origin.base()}/slow?id=p{i}" for i in range(6)])
    time.sleep(0.3)  # the busy worker's fetcher looks at the queue meanwhile
    processes.start(worker_command(redis_url, queue_name, "--workers", "2"))
    for future in [*busy, *paced]:
        assert future.result(timeout=30).response_code == 200
    gaps = _arrival_gaps(origin, lambda _, request_id: request_id.startswith("p"))
    assert min(gaps) >= 0.25, gaps  # 0.4 less jitter; unpaced: milliseconds apart
    producer.shutdown(wait=False)


def test_a_redirect_to_a_blocked_host_is_refused_by_the_worker(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    queues: list[RedisQueue],
) -> None:
    producer = _producer(queues, redis_url, queue_name, blocked_hosts=["127.0.0.3"])
    processes.start(worker_command(redis_url, queue_name))
    target = f"{origin.base(2)}/slow?id=blocked"
    future = producer.submit(f"{origin.base()}/redirect?to={target}")
    with pytest.raises(HttpError) as caught:
        future.result(timeout=30)
    assert caught.value.code == 2300998
    assert origin.arrivals("blocked") == 0
    allowed = producer.submit(f"{origin.base()}/redirect?to={origin.base(1)}/slow?id=ok")
    assert allowed.result(timeout=30).result == "/slow ok"
    producer.shutdown(wait=False)


def test_aging_lets_an_old_request_overtake_newer_higher_ones_in_redis(
    redis_url: str, queue_name: str, queues: list[RedisQueue]
) -> None:
    producer = _producer(queues, redis_url, queue_name, aging=0.2)
    old = producer.submit("http://127.0.0.1:9/old", {"priority": 1})
    time.sleep(1.1)  # worth five priority steps
    newer = producer.submit("http://127.0.0.1:9/newer", {"priority": 4})
    higher = producer.submit("http://127.0.0.1:9/higher", {"priority": 10})
    same = producer.submit("http://127.0.0.1:9/same", {"priority": 4})
    ops = queues[0]._ops
    order = [p.request_id for p in ops.pop_many("w", 30_000, 10)]
    assert order == [f.request_id for f in (higher, old, newer, same)]
    producer.shutdown(wait=False, cancel_pending=True)


def test_abort_of_a_request_running_on_a_worker_stops_it_there(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    queues: list[RedisQueue],
) -> None:
    producer = _producer(queues, redis_url, queue_name)
    processes.start(worker_command(redis_url, queue_name, "--workers", "1"))
    wait_idle(redis_url, queue_name)
    future = producer.submit(f"{origin.base()}/slow?ms=8000&id=long")
    assert origin.record.started.wait(15)
    started = time.monotonic()
    assert future.abort()
    with pytest.raises(HttpError) as caught:
        future.result(timeout=1)
    assert caught.value.code == 2300042
    # The worker hears of it at its next call (about a second) and stops the
    # request: its one thread is free again long before the 8 s would end.
    after = producer.submit(f"{origin.base()}/slow?id=next")
    assert after.result(timeout=6).result == "/slow next"
    assert time.monotonic() - started < 6
    assert queues[0].stats().failed == 1
    producer.shutdown(wait=False)


def test_worker_flags_apply_to_requests_that_travel_without_policies(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    queues: list[RedisQueue],
) -> None:
    producer = _producer(queues, redis_url, queue_name)
    flags = ["--retry", "1", "--delay", "0.3", "--block", "127.0.0.3", "--workers", "4"]
    processes.start(worker_command(redis_url, queue_name, *flags))
    wait_idle(redis_url, queue_name)
    flaky = producer.submit(f"{origin.base()}/flaky?id=wf&fails=1")
    blocked = producer.submit(f"{origin.base()}/redirect?to={origin.base(2)}/slow?id=no")
    plain = [producer.submit(f"{origin.base()}/slow?id=w{i}") for i in range(3)]
    response = flaky.result(timeout=30)
    assert (response.response_code, response.attempts) == (200, 2)
    with pytest.raises(HttpError) as caught:
        blocked.result(timeout=30)
    assert caught.value.code == 2300998
    for future in plain:
        assert future.result(timeout=30).response_code == 200
    assert origin.arrivals("no") == 0
    gaps = _arrival_gaps(origin, lambda host, _: host == "127.0.0.1")
    assert min(gaps) >= 0.15, gaps  # 0.3 less jitter; unpaced: milliseconds apart
    producer.shutdown(wait=False)
