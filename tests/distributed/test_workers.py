"""Worker processes (``netstack worker``) on a real redis-server: order, limits, crashes.

Every test starts its own worker (and producer) processes and reaps them;
the origin counts arrivals and concurrent requests per host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from tests.distributed.servers import (
    CountingOrigin,
    Processes,
    RedisServer,
    wait_idle,
    worker_command,
)

from netstack import RedisQueue, Scheduler

pytestmark = pytest.mark.timeout(60)


def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM a worker; its stderr. It must exit 0 (graceful)."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()
    return err.decode()


@pytest.fixture
def producer(redis_url: str, queue_name: str) -> Iterator[Scheduler]:
    queue = RedisQueue(redis_url, queue_name)
    scheduler = Scheduler(queue=queue)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False, cancel_pending=True)
        queue.close()


def _no_lease_left(redis_url: str, queue_name: str) -> None:
    queue = RedisQueue(redis_url, queue_name)
    try:
        ops = queue._ops
        assert ops.client.exists(ops.key("leases")) == 0
        assert not [f for f in ops.client.hkeys(ops.key("state")) if f.startswith(b"i:")]
        assert queue.stats().leased == 0
    finally:
        queue.close()


def test_priority_order_holds_across_two_producers_and_three_workers(
    redis_url: str, queue_name: str, processes: Processes, origin: CountingOrigin
) -> None:
    base = origin.base()
    levels = [1, 500, 20, 1000, 20, 1, 500, 1000, 3, 3, 20, 1]
    specs = [[[f"{base}/slow?ms=40&id={who}{i}", p] for i, p in enumerate(levels)] for who in "ab"]
    command = [sys.executable, "-m", "tests.distributed.producer_main", redis_url, queue_name]
    producers = [processes.start([*command, json.dumps(spec)]) for spec in specs]
    queued = []
    for who, process, spec in zip("ab", producers, specs, strict=True):
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err.decode()
        ids = json.loads(out)
        queued += [
            (-p, rid, f"{who}{i}") for i, ((_, p), rid) in enumerate(zip(spec, ids, strict=True))
        ]
    expected = [name for _, _, name in sorted(queued)]
    workers = [
        processes.start(worker_command(redis_url, queue_name, "--workers", "1")) for _ in range(3)
    ]
    _until(lambda: len(origin.record.arrivals) == len(expected))
    arrived = [name for _, name in origin.record.arrivals]
    # Three workers take requests in exactly that order; each sends its own at
    # its own pace, so arrivals may swap within a window of three.
    displacement = [abs(expected.index(name) - i) for i, name in enumerate(arrived)]
    assert max(displacement) <= 2, (expected, arrived)
    assert sorted(expected) == sorted(arrived)
    for worker in workers:
        _stop(worker)
    _no_lease_left(redis_url, queue_name)


def test_max_per_host_holds_across_worker_processes(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    producer: Scheduler,
) -> None:
    workers = [
        processes.start(worker_command(redis_url, queue_name, "--workers", "4", "--per-host", "2"))
        for _ in range(3)
    ]
    wait_idle(redis_url, queue_name, 3)
    futures = [producer.submit(f"{origin.base(1 + i % 2)}/slow?ms=120&id=h{i}") for i in range(16)]
    for future in futures:
        assert future.result(timeout=30).response_code == 200
    assert origin.record.peak == {"127.0.0.2": 2, "127.0.0.3": 2}
    for worker in workers:
        _stop(worker)
    _no_lease_left(redis_url, queue_name)


def test_a_killed_worker_s_request_completes_elsewhere_with_one_result(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    producer: Scheduler,
) -> None:
    doomed = processes.start(worker_command(redis_url, queue_name, "--lease", "1"))
    future = producer.submit(f"{origin.base()}/slow?ms=1500&id=k")
    assert origin.record.started.wait(15)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=10)
    survivor = processes.start(worker_command(redis_url, queue_name, "--lease", "1"))
    response = future.result(timeout=30)
    assert response.result == "/slow k"
    assert origin.arrivals("k") == 2  # at least once: it ran again
    queue = RedisQueue(redis_url, queue_name)
    try:
        stats = queue.stats()
        assert (stats.completed, stats.expired, stats.duplicates) == (1, 1, 0)
        assert (
            queue._ops.client.llen(queue._ops.key(f"reply:{producer.jobs.sink.producer._token}"))
            == 0
        )  # type: ignore[attr-defined]
    finally:
        queue.close()
    assert producer.stats().completed == 1
    _stop(survivor)
    _no_lease_left(redis_url, queue_name)


def test_sigterm_returns_what_outlives_the_grace_and_loses_none(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    producer: Scheduler,
) -> None:
    first = processes.start(worker_command(redis_url, queue_name, "--grace", "0.2"))
    future = producer.submit(f"{origin.base()}/slow?ms=1200&id=g")
    assert origin.record.started.wait(15)
    err = _stop(first)
    assert "1 returned to the queue" in err
    queue = RedisQueue(redis_url, queue_name)
    try:
        stats = queue.stats()
        assert (stats.waiting, stats.leased, stats.returned) == (1, 0, 1)
    finally:
        queue.close()
    second = processes.start(worker_command(redis_url, queue_name))
    assert future.result(timeout=30).result == "/slow g"
    _stop(second)
    _no_lease_left(redis_url, queue_name)


def test_sigterm_lets_a_running_request_finish_within_the_grace(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    producer: Scheduler,
) -> None:
    worker = processes.start(worker_command(redis_url, queue_name, "--grace", "20"))
    future = producer.submit(f"{origin.base()}/slow?ms=500&id=f")
    assert origin.record.started.wait(15)
    err = _stop(worker)
    assert "1 completed" in err
    assert future.result(timeout=5).result == "/slow f"
    assert origin.arrivals("f") == 1
    _no_lease_left(redis_url, queue_name)


def test_a_response_cached_by_one_worker_is_a_hit_for_another(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    producer: Scheduler,
) -> None:
    url = f"{origin.base()}/cached?id=c"
    first = processes.start(worker_command(redis_url, queue_name, "--cache"))
    assert producer.submit(url).result(timeout=30).from_cache is False
    _stop(first)
    second = processes.start(worker_command(redis_url, queue_name, "--cache"))
    response = producer.submit(url).result(timeout=30)
    assert (response.from_cache, response.result) == (True, "/cached c")
    assert origin.arrivals("c") == 1
    _stop(second)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_a_worker_survives_redis_going_away_without_spinning(
    redis_server: RedisServer, processes: Processes, origin: CountingOrigin
) -> None:
    own = RedisServer()
    own.start()
    try:
        worker = processes.start(worker_command(own.url, "lost", "--lease", "2"))
        wait_idle(own.url, "lost")
        own.stop()
        before = _cpu_seconds(worker.pid)
        time.sleep(2.0)
        assert worker.poll() is None
        assert _cpu_seconds(worker.pid) - before < 0.5  # backoff, not a busy loop
        own.start(port=own.port)
        queue = RedisQueue(own.url, "lost")
        with Scheduler(queue=queue) as scheduler:
            response = scheduler.submit(f"{origin.base()}/slow?id=back").result(timeout=30)
        assert response.result == "/slow back"
        err = _stop(worker)
        assert "redis_unavailable" in err or "1 completed" in err
    finally:
        own.close()


def test_http_request_on_a_producer_with_an_in_process_worker(
    redis_url: str, queue_name: str, origin: CountingOrigin, producer: Scheduler
) -> None:
    import threading

    from netstack import HttpError, create_http
    from netstack.distributed import Worker

    stop = threading.Event()
    worker = Worker(redis_url, queue_name, workers=2, lease=5)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        seen: list[object] = []
        task = create_http(producer)
        future = task.request(
            f"{origin.base()}/slow?id=cb", callback=lambda err, data: seen.append((err, data))
        )
        response = future.result(timeout=20)
        assert response.result == "/slow cb"
        _until(lambda: len(seen) == 1)
        assert seen[0] == (None, response)
        listening = create_http(producer)
        listening.on("dataReceive", print)
        with pytest.raises(HttpError) as caught:
            listening.request(f"{origin.base()}/slow?id=never")
        assert caught.value.code == 401
    finally:
        stop.set()
        thread.join(timeout=20)
    assert worker.counts.completed == 1
    _no_lease_left(redis_url, queue_name)


@pytest.mark.parametrize(("prefetch", "held"), [("0", 2), ("1.5", 5)])
def test_a_busy_worker_holds_its_threads_plus_its_prefetch_in_leases(
    redis_url: str,
    queue_name: str,
    processes: Processes,
    origin: CountingOrigin,
    producer: Scheduler,
    prefetch: str,
    held: int,
) -> None:
    """``--prefetch F`` leases F per thread beyond the threads (0: only for free threads,
    so nothing queued later at a higher priority waits behind this worker's leases)."""
    futures = producer.submit_batch([f"{origin.base()}/slow?ms=600&id={i}" for i in range(12)])
    worker = processes.start(
        worker_command(redis_url, queue_name, "--workers", "2", "--prefetch", prefetch)
    )
    _until(lambda: len(origin.record.arrivals) >= 2)
    queue = RedisQueue(redis_url, queue_name)
    try:
        assert queue.stats().leased == held
    finally:
        queue.close()
    for future in futures:
        future.result(timeout=30)
    _stop(worker)


def test_a_prefetch_out_of_range_is_refused(redis_url: str, queue_name: str) -> None:
    from netstack import HttpError
    from netstack.distributed import Worker

    for prefetch in (-0.5, 17.0, float("nan")):
        with pytest.raises(HttpError) as caught:
            Worker(redis_url, queue_name, prefetch=prefetch)
        assert caught.value.code == 401
        assert "prefetch" in str(caught.value)
