"""Stopping for good: shutdown(abort_running=True) and Ctrl-C at interpreter exit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from tests.servers.raw import raw_server, read_request, response

from netstack import HttpError, Scheduler
from netstack.errors import ABORTED

ROOT = Path(__file__).resolve().parents[1]


def _slow(seen: list[int]) -> object:
    """Counts requests; answers each after 2 s (a crawl's slow host)."""

    def handle(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            seen.append(index)
            time.sleep(2.0)
            with contextlib.suppress(OSError):
                conn.sendall(response(b"late"))

    return handle


def test_shutdown_abort_running_returns_quickly_and_ends_everything() -> None:
    seen: list[int] = []
    with raw_server(_slow(seen)) as slow:
        scheduler = Scheduler(max_workers=2, max_per_host=2, name="abort-running")
        futures = [scheduler.submit(slow.url(f"/{i}")) for i in range(20)]
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        began = time.monotonic()
        scheduler.shutdown(wait=True, abort_running=True)
        assert time.monotonic() - began < 1.5
        errors = [f.exception(timeout=0) for f in futures[:2]]
        assert all(isinstance(e, HttpError) and e.code == ABORTED for e in errors)
        assert all(f.cancelled() for f in futures[2:])
        stats = scheduler.stats()
        assert (stats.failed, stats.cancelled, stats.running) == (2, 18, 0)
    assert len(seen) == 2


_SCRIPT = textwrap.dedent(
    """
    import signal  # as in a terminal: a test runner started in the background
    signal.signal(signal.SIGINT, signal.default_int_handler)  # may ignore SIGINT
    import sys
    from netstack import Scheduler

    scheduler = Scheduler(max_workers=4, max_per_host=4, name="crawl")
    futures = [scheduler.submit(sys.argv[1] + str(i)) for i in range(300)]
    print("queued", flush=True)
    futures[-1].result()  # Ctrl-C lands here
    """
)


def test_ctrl_c_stops_a_script_with_300_queued_slow_requests_within_3_s() -> None:
    seen: list[int] = []
    with raw_server(_slow(seen), backlog=64) as slow:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        with subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-c", _SCRIPT, slow.url("/")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        ) as process:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"queued"
            deadline = time.monotonic() + 5
            while len(seen) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            began = time.monotonic()
            process.send_signal(signal.SIGINT)
            try:  # communicate: a full pipe must not be what holds the script up
                _, err = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGABRT)  # faulthandler dumps every thread's stack
                _, err = process.communicate()
            took = time.monotonic() - began
            stderr = err.decode(errors="replace")
        assert "KeyboardInterrupt" in stderr, stderr[-5000:]
        assert took < 3.0, stderr[-5000:]
        assert process.returncode != 0
    assert len(seen) <= 8  # the four running when Ctrl-C came, not the 296 queued


def test_a_normal_exit_still_drains_the_queue() -> None:
    served = threading.Event()
    count: list[int] = []

    def ok(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            count.append(index)
            time.sleep(0.05)
            conn.sendall(response(b"ok"))
            if len(count) == 6:
                served.set()

    script = textwrap.dedent(
        """
        import sys
        from netstack import Scheduler

        scheduler = Scheduler(max_workers=1, name="drain")
        for i in range(6):
            scheduler.submit(sys.argv[1])
        """
    )
    with raw_server(ok) as origin:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
        result = subprocess.run(
            [sys.executable, "-c", script, origin.url("/")], env=env, timeout=30, check=False
        )
        assert result.returncode == 0
        assert served.wait(5)
    assert len(count) == 6
