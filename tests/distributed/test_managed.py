"""Managed Redis: a ``redis.Redis`` client passed in, and ``redis+sentinel://`` URLs."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.distributed.servers import CountingOrigin, RedisServer, free_port

from netstack import HttpError, RedisQueue, Scheduler
from netstack.distributed import Worker

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sentinel(redis_server: RedisServer, tmp_path: Path) -> Iterator[int]:
    """A redis-sentinel on loopback watching the session's redis-server as ``primary``."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor primary 127.0.0.1 {redis_server.port} 1\n"
    )
    process = subprocess.Popen(
        ["redis-server", str(config), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "primary"):
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.skip("redis-server --sentinel did not start here")
            time.sleep(0.05)
        client.close()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _run_one(url: object, queue_name: str, origin: CountingOrigin, worker_url: object) -> str:
    stop = threading.Event()
    worker = Worker(worker_url, queue_name, workers=2, lease=5)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    queue = RedisQueue(url, queue_name)  # type: ignore[arg-type]
    try:
        with Scheduler(queue=queue) as producer:
            response = producer.submit(f"{origin.base()}/slow?id=m").result(timeout=30)
        return str(response.result)
    finally:
        stop.set()
        thread.join(timeout=30)
        queue.close()


def test_a_sentinel_url_finds_the_primary_for_producer_and_worker(
    sentinel: int, queue_name: str, origin: CountingOrigin
) -> None:
    url = f"redis+sentinel://127.0.0.1:{sentinel}/primary/0"
    assert _run_one(url, queue_name, origin, url) == "/slow m"


def test_a_sentinel_url_without_a_service_is_a_401() -> None:
    with pytest.raises(HttpError) as caught:
        RedisQueue("redis+sentinel://127.0.0.1:1/")
    assert caught.value.code == 401
    assert "service" in str(caught.value)


def test_a_redis_client_passed_in_serves_producer_and_worker(
    redis_url: str, queue_name: str, origin: CountingOrigin
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    assert _run_one(client, queue_name, origin, redis.Redis.from_url(redis_url)) == "/slow m"
    assert RedisQueue(client, queue_name).url == redis_url


def test_a_value_that_is_not_a_client_is_a_401() -> None:
    with pytest.raises(HttpError) as caught:
        RedisQueue(42)  # type: ignore[arg-type]
    assert caught.value.code == 401
