"""The queue at Redis speed: commands per request, idle workers, Redis losing its data.

Each test runs its own redis-server, so ``INFO commandstats`` and restarts
see nobody else's traffic.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import wait

import pytest
from tests.distributed.servers import (
    CountingOrigin,
    Processes,
    RedisServer,
    wait_idle,
    worker_command,
)

from netstack import HttpError, RedisQueue, Scheduler

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def own_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _commands(client: object) -> int:
    stats = client.info("commandstats")  # type: ignore[attr-defined]
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if not name.startswith(("cmdstat_info", "cmdstat_config"))
    )


def test_a_batch_costs_at_most_eight_redis_commands_per_request(
    own_redis: RedisServer, processes: Processes
) -> None:
    """The issue's measure: 3,000 requests, 1 producer, 1 worker process x 8 threads."""
    import redis
    from benchmarks.origin import running_origin

    client = redis.Redis.from_url(own_redis.url)
    worker = processes.start(
        worker_command(own_redis.url, "count", "--workers", "8", "--per-host", "64")
    )
    queue = RedisQueue(own_redis.url, "count")
    try:
        with running_origin() as origin, Scheduler(queue=queue) as producer:
            wait_idle(own_redis.url, "count")
            client.config_resetstat()
            n = 3000
            futures = producer.submit_batch([f"{origin}/"] * n)
            wait(futures, timeout=90)
            assert all(f.result().response_code == 200 for f in futures)
            per_request = _commands(client) / n
    finally:
        client.close()
    # Every client together, the commands run inside the scripts included:
    # about three here, 43 before batching.
    assert per_request <= 8, per_request
    assert worker.poll() is None


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_an_idle_worker_blocks_on_redis_and_burns_no_cpu(
    own_redis: RedisServer, processes: Processes
) -> None:
    import redis

    worker = processes.start(worker_command(own_redis.url, "idle", "--workers", "8"))
    wait_idle(own_redis.url, "idle")
    client = redis.Redis.from_url(own_redis.url)
    try:
        client.config_resetstat()
        before = _cpu_seconds(worker.pid)
        time.sleep(5.0)
        spent = _cpu_seconds(worker.pid) - before
        calls = _commands(client)
    finally:
        client.close()
    assert worker.poll() is None
    assert spent < 0.25, spent  # a busy loop would burn the whole 5 s
    # A blocking pop a second plus a look at the queue: no polling storm.
    assert calls < 5 * 20, calls


def test_redis_restarted_without_persistence_ends_every_future_within_the_lease(
    own_redis: RedisServer, processes: Processes, origin: CountingOrigin
) -> None:
    lease = 3.0
    worker = processes.start(
        worker_command(own_redis.url, "restart", "--workers", "4", "--lease", str(lease))
    )
    wait_idle(own_redis.url, "restart")
    queue = RedisQueue(own_redis.url, "restart")
    producer = Scheduler(queue=queue)
    try:
        futures = producer.submit_batch([f"{origin.base()}/slow?ms=100&id=r{i}" for i in range(40)])
        deadline = time.monotonic() + 20
        while not any(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.02)
        own_redis.stop()  # mid-batch: every request not yet recorded is gone
        own_redis.start(port=own_redis.port)
        restarted = time.monotonic()
        _, pending = wait(futures, timeout=lease + 5)
        assert not pending, f"{len(pending)} futures still pending"
        assert time.monotonic() - restarted < lease + 5
        lost = [f for f in futures if f.exception() is not None]
        assert lost, "the restart lost nothing: it came too late to test anything"
        for future in lost:
            error = future.exception()
            assert isinstance(error, HttpError)
            assert error.code == 2300056, error
            assert "lost its state" in str(error)
        # The queue works again at once, for the same producer and worker.
        again = producer.submit(f"{origin.base()}/slow?id=again")
        assert again.result(timeout=30).result == "/slow again"
    finally:
        producer.shutdown(wait=False, cancel_pending=True)
        queue.close()
    assert worker.poll() is None


def test_a_burst_of_submits_from_many_threads_shares_round_trips(
    redis_url: str, queue_name: str
) -> None:
    queue = RedisQueue(redis_url, queue_name, want_results=False)
    threads, each = 16, 20
    start = threading.Barrier(threads)
    ids: list[int] = []
    lock = threading.Lock()

    def burst() -> None:
        start.wait()
        for i in range(each):
            future = producer.submit(f"http://127.0.0.1:9/{i}")
            with lock:
                ids.append(future.request_id)

    try:
        with Scheduler(queue=queue) as producer:
            before = queue._ops.round_trips
            workers = [threading.Thread(target=burst) for _ in range(threads)]
            for thread in workers:
                thread.start()
            for thread in workers:
                thread.join(timeout=60)
            trips = queue._ops.round_trips - before
        assert sorted(ids) == list(range(min(ids), min(ids) + threads * each))
        assert len(queue) == threads * each
        # One push per submit without sharing; threads waiting on one push share the next.
        assert trips < threads * each * 3 / 4, trips
    finally:
        queue.clear()
        queue.close()
