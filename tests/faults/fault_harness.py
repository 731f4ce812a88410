"""A keep-alive raw server with one faulty path, and the checks every fault test makes.

``fault_server(fault)`` serves, on every connection, one request after
another: ``/fault`` gets ``fault(conn)`` (which writes whatever bytes the
fault needs, or nothing), any other path a small ``200 fresh``. It logs
``(connection index, path)`` per request, so a test can tell whether the
follow-up came on a new connection or on the faulty one.

``run_fault`` sends ``/fault`` and then ``/ok`` through the public API on a
one-worker scheduler and returns what a test asserts on.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.servers.raw import RawServer, raw_server, read_request, response

import netstack
from netstack import HttpError, HttpResponse, Scheduler
from netstack.errors import MESSAGES

Fault = Callable[[socket.socket], None]

#: Fixed allowance over a configured timeout for thread wake-ups and CI noise.
SLACK = 0.5
#: The timeouts every fault request runs with (ms): small, so a hang shows fast.
TIMEOUT_MS = 1500


def within(elapsed: float, timeout_ms: int = TIMEOUT_MS) -> bool:
    """The bound on a fault: the configured timeout + 10 %, plus SLACK seconds."""
    return elapsed < timeout_ms / 1000 * 1.1 + SLACK


@dataclass
class Served:
    """The fault server and its request log."""

    raw: RawServer
    log: list[tuple[int, bytes]] = field(default_factory=list)

    def url(self, path: str, scheme: str = "http") -> str:
        return self.raw.url(path, scheme)

    def connection_of(self, path: bytes) -> list[int]:
        return [index for index, p in self.log if p == path]


def _path(head: bytes) -> bytes:
    parts = head.split(b" ", 2)
    return parts[1] if len(parts) > 1 else b""


@contextmanager
def fault_server(
    fault: Fault, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[Served]:
    """Serve ``fault`` on ``/fault`` and ``200 fresh`` elsewhere, keep-alive."""
    served: Served

    def handler(conn: socket.socket, index: int) -> None:
        while True:
            head = read_request(conn)
            if not head:
                return
            path = _path(head)
            served.log.append((index, path))
            if path.startswith(b"/fault"):
                fault(conn)
            else:
                conn.sendall(response(b"fresh"))

    with raw_server(handler, tls=tls, host=host) as raw:
        served = Served(raw)
        yield served


@dataclass
class Outcome:
    """What the faulty request and its follow-up gave."""

    error: HttpError
    elapsed: float
    callback: list[tuple[Any, Any]]
    follow_up: HttpResponse
    stats: netstack.SchedulerStats
    workers: list[threading.Thread]


def worker_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"{name}-worker-")]


def run_fault(
    fault_url: str,
    ok_url: str,
    options: dict[str, Any] | None = None,
    *,
    ok_options: dict[str, Any] | None = None,
    name: str = "faults",
) -> Outcome:
    """``request(fault_url)`` must fail with an HttpError; ``request(ok_url)`` then succeed.

    Both run on one scheduler with a single worker, so the follow-up proves
    the very worker that met the fault still runs requests.
    """
    opts = {"readTimeout": TIMEOUT_MS, "connectTimeout": TIMEOUT_MS, "usingCache": False}
    opts.update(options or {})
    calls: list[tuple[Any, Any]] = []
    with Scheduler(max_workers=1, name=name) as scheduler:
        started = time.monotonic()
        future = netstack.create_http(scheduler).request(
            fault_url, opts, callback=lambda err, data: calls.append((err, data))
        )
        error = future.exception(timeout=30)  # a hang fails here, not in pytest-timeout
        elapsed = time.monotonic() - started
        assert isinstance(error, HttpError), f"not an HttpError: {error!r}"
        assert error.message == MESSAGES[error.code]
        follow = {"readTimeout": TIMEOUT_MS, "connectTimeout": TIMEOUT_MS, "usingCache": False}
        follow.update(ok_options or {})
        follow_up = netstack.create_http(scheduler).request(ok_url, follow).result(timeout=30)
        stats = scheduler.stats()
        workers = worker_threads(name)
    return Outcome(error, elapsed, calls, follow_up, stats, workers)


def assert_survived(outcome: Outcome) -> None:
    """One failure, then one success, on the one worker that met the fault."""
    assert outcome.follow_up.response_code == 200
    assert outcome.follow_up.result == "fresh"
    assert (outcome.stats.failed, outcome.stats.completed) == (1, 1)
    assert len(outcome.workers) == 1
    # The callback saw the same error, and no data.
    assert len(outcome.callback) == 1
    assert outcome.callback[0][0] is outcome.error
    assert outcome.callback[0][1] is None
