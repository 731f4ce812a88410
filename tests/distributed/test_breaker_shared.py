"""Scheduler(queue=RedisQueue(...), breaker=...): the workers share each host's circuit in Redis."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator

import pytest
from tests.distributed.servers import Processes, wait_idle, worker_command
from tests.servers.raw import raw_server, read_request, response

from netstack import CircuitBreaker, HttpError, RedisQueue, Scheduler
from netstack.errors import CONNECT_FAILED

pytestmark = pytest.mark.timeout(90)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ok(conn: socket.socket, index: int) -> None:
    while read_request(conn):
        conn.sendall(response(b"fine"))


@pytest.fixture
def producer(redis_url: str, queue_name: str) -> Iterator[Scheduler]:
    queue = RedisQueue(redis_url, queue_name)
    scheduler = Scheduler(queue=queue, breaker=CircuitBreaker(failures=3, reset_after=8.0))
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False, cancel_pending=True)
        queue.close()


def test_a_circuit_opened_on_one_worker_is_open_on_another_then_one_trial_closes_it(
    redis_url: str, queue_name: str, processes: Processes, producer: Scheduler
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    first = processes.start(worker_command(redis_url, queue_name, "--workers", "1"))
    wait_idle(redis_url, queue_name)
    for _ in range(3):  # connect failures, all on the first worker
        error = producer.submit(url).exception(timeout=30)
        assert isinstance(error, HttpError)
        assert error.code == CONNECT_FAILED
        assert "Circuit open" not in error.message
    (state,) = producer.stats().breakers.values()
    assert (state.state, state.failures, state.last_code) == ("open", 3, CONNECT_FAILED)
    processes.start(worker_command(redis_url, queue_name, "--workers", "1"))
    wait_idle(redis_url, queue_name, count=2)
    first.send_signal(signal.SIGTERM)  # only the second worker, which saw no failure, is left
    first.communicate(timeout=30)
    with raw_server(_ok, port=port) as revived:
        refused = [producer.submit(url) for _ in range(4)]
        for future in refused:
            error = future.exception(timeout=30)
            assert isinstance(error, HttpError)
            assert error.code == CONNECT_FAILED
            assert "Circuit open for host '127.0.0.1'" in error.message
        assert revived.accepted == 0
        deadline = time.monotonic() + 20  # reset_after: then the next request is the one trial
        while next(iter(producer.stats().breakers.values())).state != "half_open":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert producer.submit(url).result(timeout=30).result == "fine"
        assert producer.stats().breakers == {}
        assert producer.submit(url).result(timeout=30).result == "fine"
