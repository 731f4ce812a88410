"""Scheduler(adaptive=...) against a real server that slows down past N concurrent requests."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from tests.servers.raw import raw_server, read_request, response

from netstack import AdaptiveConcurrency, HttpError, Scheduler

KNEE = 2  # the server's workers: beyond this many requests at once, each waits its turn
BASE = 0.03  # seconds per request at or below the knee


class _Knee:
    """Answers in BASE s up to KNEE requests at once, in proportion beyond (a saturated server)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peaks: list[int] = []  # concurrency seen by each request as it arrived

    def __call__(self, conn: socket.socket, index: int) -> None:
        while read_request(conn):
            with self.lock:
                self.now += 1
                self.peaks.append(self.now)
                concurrent = self.now
            time.sleep(BASE * max(1.0, concurrent / KNEE))
            with self.lock:
                self.now -= 1
            conn.sendall(response(b"ok"))


def test_the_limit_settles_below_max_per_host_against_a_host_that_slows_down() -> None:
    knee = _Knee()
    with (
        raw_server(knee, backlog=64) as origin,
        Scheduler(max_workers=16, max_per_host=16, adaptive=True) as scheduler,
    ):
        futures = [scheduler.submit(origin.url(f"/{i}")) for i in range(300)]
        for future in futures:
            assert future.result(timeout=60).response_code == 200
        (limit,) = scheduler.stats().host_limits.values()
    assert limit < 16
    late = knee.peaks[150:]
    assert sum(late) / len(late) < 8  # without adaptation it would sit at 16


def test_it_starts_small() -> None:
    knee = _Knee()
    with (
        raw_server(knee, backlog=64) as origin,
        Scheduler(
            max_workers=8, max_per_host=8, adaptive=AdaptiveConcurrency(start=1)
        ) as scheduler,
    ):
        futures = [scheduler.submit(origin.url(f"/{i}")) for i in range(3)]
        for future in futures:
            future.result(timeout=30)
    assert knee.peaks[:2] == [1, 1]


def test_adaptive_is_checked_at_construction() -> None:
    with pytest.raises(HttpError) as info:
        Scheduler(adaptive="yes")  # type: ignore[arg-type]
    assert info.value.code == 401
    assert "adaptive" in info.value.message
