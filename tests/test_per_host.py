"""Per-host limits end to end: distinct loopback addresses are distinct hosts."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, wait
from typing import Any

import pytest
from tests.servers.streaming_origin import streaming_origin

from netstack import Scheduler

pytestmark = pytest.mark.timeout(60)


def test_slow_requests_to_one_host_do_not_delay_another_host() -> None:
    """max_per_host=2: 20 slow requests to 127.0.0.2 hold two slots, not the pool."""
    finished: dict[str, list[float]] = {"slow": [], "fast": []}
    lock = threading.Lock()

    def record(kind: str) -> Any:
        def done(_: Future[Any]) -> None:
            with lock:
                finished[kind].append(time.monotonic())

        return done

    with (
        streaming_origin("127.0.0.2") as slow_host,
        streaming_origin("127.0.0.3") as fast_host,
        Scheduler(max_workers=8, max_per_host=2, name="per-host") as scheduler,
    ):
        slow = [scheduler.submit(f"{slow_host}/slow?chunks=5&ms=100") for _ in range(20)]
        for future in slow:
            future.add_done_callback(record("slow"))
        time.sleep(0.1)  # the slow host is saturated: 2 running, 18 waiting
        assert scheduler.stats().running == 2
        fast = [scheduler.submit(f"{fast_host}/empty", {"priority": 1}) for _ in range(5)]
        for future in fast:
            future.add_done_callback(record("fast"))
        done, _ = wait(fast, timeout=10)
        assert len(done) == 5
        assert all(f.result().response_code == 200 for f in fast)
        with lock:
            slow_done_when_fast_done = len(finished["slow"])
        assert slow_done_when_fast_done <= 2  # the fast host never waited behind the slow one
        wait(slow, timeout=40)
    assert all(f.result().response_code == 200 for f in slow)
    assert max(finished["fast"]) < sorted(finished["slow"])[2]
