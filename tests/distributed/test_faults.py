"""Hostile data in Redis: malformed jobs and a corrupt config never take a worker down."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from tests.distributed.servers import CountingOrigin

from netstack import HttpError, RedisQueue, Scheduler
from netstack.distributed import Worker
from netstack.distributed.ops import job_field

pytestmark = pytest.mark.timeout(90)


class _WorkerThread:
    """A ``Worker`` run on a thread of the test, started when the test says, always stopped."""

    def __init__(self, url: str, queue: str, workers: int) -> None:
        self.worker = Worker(url, queue, workers=workers, lease=5)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,))

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)


@contextlib.contextmanager
def _producer_and_worker(
    url: str, queue_name: str, workers: int
) -> Iterator[tuple[RedisQueue, Scheduler, _WorkerThread]]:
    """A producer on ``queue_name`` and a worker not started yet; all closed at the end."""
    queue = RedisQueue(url, queue_name)
    producer = Scheduler(queue=queue)
    running = _WorkerThread(url, queue_name, workers)
    try:
        yield queue, producer, running
    finally:
        running.close()
        producer.shutdown(wait=False, cancel_pending=True)
        queue.close()


#: What hostile or damaged writers leave in a job's payload.
_MALFORMED = [
    b'{"v": 1, "url": "http://127.0.0.1:9/", "options": {"read_timeout": ' + b"9" * 400 + b"}}",
    b'{"v": 1, "url": "http://127.0.0.1:9/", "options": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"v": 1, "url": 7, "options": {}}',
    b'{"v": 1, "url": "http://127.0.0.1:9/", "options": {"max_limit": 1e400}, "tag": 5}',
    b'{"v": 1, "url": "http://127.0.0.1:9/", "options": {"header": {"a": [1, {"b": null}]}}}',
    b'\xff\xfe{"v": 1}',
    b"[]",
]


@pytest.mark.parametrize("payload", _MALFORMED, ids=range(len(_MALFORMED)))
def test_a_malformed_job_among_20_fails_alone_and_the_worker_lives(
    redis_url: str, queue_name: str, origin: CountingOrigin, payload: bytes
) -> None:
    with _producer_and_worker(redis_url, queue_name, 4) as (queue, producer, running):
        futures = [producer.submit(f"{origin.base()}/slow?id=m{i}") for i in range(20)]
        bad = futures[7]
        queue._ops.corrupt(bad.request_id, payload)
        running.start()
        for i, future in enumerate(futures):
            if future is bad:
                with pytest.raises(HttpError) as caught:
                    future.result(timeout=30)
                # 401 when the worker's decoder or validation refuses it; a value
                # validation lets through fails when the request runs (2300999).
                assert caught.value.code in (401, 2300999)
            else:
                assert future.result(timeout=30).result == f"/slow m{i}"
        # The same worker still takes work afterwards.
        late = producer.submit(f"{origin.base()}/slow?id=late")
        assert late.result(timeout=30).result == "/slow late"
    assert not running.thread.is_alive()
    assert (running.worker.counts.completed, running.worker.counts.failed) == (20, 1)


def test_a_malformed_job_header_is_dropped_and_counted(
    redis_url: str, queue_name: str, origin: CountingOrigin
) -> None:
    queue = RedisQueue(redis_url, queue_name, want_results=False)
    with Scheduler(queue=queue) as producer:
        futures = producer.submit_batch([f"{origin.base()}/slow?id=h{i}" for i in range(5)])
    ops = queue._ops
    ops.client.hset(ops.key("job"), job_field(futures[2].request_id), b"\xff no header")
    taken = ops.pop_many("w", 5000, 10)
    assert [p.request_id for p in taken] == [f.request_id for f in futures if f is not futures[2]]
    assert queue.stats().failed == 1
    queue.clear()
    queue.close()


@pytest.mark.parametrize("damage", ["header", "deleted"])
def test_a_waiting_request_whose_entry_is_lost_fails_its_future_alone(
    redis_url: str, queue_name: str, origin: CountingOrigin, damage: str
) -> None:
    """No outcome can come for a request Redis no longer holds: its producer fails it
    (2300056) at its next audit of what it waits for, instead of waiting forever."""
    with _producer_and_worker(redis_url, queue_name, 2) as (queue, producer, running):
        futures = producer.submit_batch([f"{origin.base()}/slow?id=l{i}" for i in range(5)])
        ops = queue._ops
        field = job_field(futures[2].request_id)
        if damage == "header":
            ops.client.hset(ops.key("job"), field, b"\xff no header")
        else:
            ops.client.hdel(ops.key("job"), field)
        running.start()
        for i, future in enumerate(futures):
            if i == 2:
                with pytest.raises(HttpError) as caught:
                    future.result(timeout=20)
                assert caught.value.code == 2300056
                assert "no longer holds this request" in caught.value.detail
            else:
                assert future.result(timeout=20).result == f"/slow l{i}"
        assert producer.stats().failed == 1


def test_a_corrupt_config_is_ignored_with_the_default_limit(
    redis_url: str, queue_name: str, origin: CountingOrigin
) -> None:
    queue = RedisQueue(redis_url, queue_name)
    ops = queue._ops
    ops.client.hset(ops.key("state"), mapping={"max": "garbage", "completed": "x" * 400})
    with Scheduler(queue=queue) as producer:
        future = producer.submit(f"{origin.base()}/slow?id=c")
        running = _WorkerThread(redis_url, queue_name, 2)
        running.start()
        try:
            assert future.result(timeout=30).result == "/slow c"
        finally:
            running.close()
    assert ops.max_per_host() == 8
    assert queue.stats().completed == 1


def test_a_key_of_the_wrong_type_is_renamed_aside_and_the_queue_goes_on(
    redis_url: str, queue_name: str
) -> None:
    queue = RedisQueue(redis_url, queue_name, want_results=False)
    ops = queue._ops
    ops.client.set(ops.key("q"), "not a sorted set")
    ops.client.set(ops.key("state"), "not a hash")
    with Scheduler(queue=queue) as producer:
        future = producer.submit("http://127.0.0.1:9/x")
    assert future.result(timeout=5) is None
    assert len(queue) == 1
    assert ops.client.get(ops.key("q:corrupt")) == b"not a sorted set"
    queue.clear()
    queue.close()
