"""Every thread netstack starts leaves asynchronous signals to the main thread.

Python runs signal handlers only in the main thread; a SIGINT the kernel hands
to a worker blocked in ``recv`` would go unnoticed while the main thread waits
in ``future.result()`` (Ctrl-C ignored). So netstack's threads block them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import netstack
from netstack.threads import ASYNC_SIGNALS, start_daemon

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks"),
]


def _blocked_here() -> set[signal.Signals]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, []))


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(8)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_start_daemon_blocks_async_signals_in_the_new_thread_only() -> None:
    seen: list[set[signal.Signals]] = []
    thread = start_daemon(lambda: seen.append(_blocked_here()), "probe")
    thread.join(10)
    assert thread.daemon
    assert {signal.SIGINT, signal.SIGTERM} <= seen[0]
    assert seen[0] >= ASYNC_SIGNALS
    assert signal.SIGINT not in _blocked_here()  # the caller's mask is restored


def test_a_worker_thread_blocks_sigint_while_it_runs_a_request(origin: str) -> None:
    masks: list[set[signal.Signals]] = []
    with netstack.Scheduler(max_workers=2) as scheduler:
        future = scheduler.submit(
            f"{origin}/x", events={"headersReceive": lambda header: masks.append(_blocked_here())}
        )
        assert future.result(timeout=30).response_code == 200
    assert masks
    assert signal.SIGINT in masks[0]
    assert signal.SIGTERM in masks[0]


_SCRIPT = """
import signal  # as in a terminal: a test runner started in the background may ignore SIGINT
signal.signal(signal.SIGINT, signal.default_int_handler)
import sys
import netstack
scheduler = netstack.Scheduler(max_workers=4, max_per_host=4)
futures = [scheduler.submit(sys.argv[1] + "/slow", {"totalTimeout": 60000}) for _ in range(8)]
print("queued", flush=True)
futures[-1].result()  # Ctrl-C lands here, whichever thread the kernel picks
"""


def test_sigint_reaches_the_main_thread_while_every_worker_waits_in_recv(origin: str) -> None:
    """Four workers blocked in recv, the deadline alarm and the timer alive: SIGINT from
    outside the process raises KeyboardInterrupt in the main thread, every time."""
    for _ in range(5):
        process = subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, origin],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"queued"
            threading.Event().wait(0.5)  # the workers are in recv by now
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=20)
        finally:
            process.kill()
            process.wait()
        assert b"KeyboardInterrupt" in err, err[-3000:]
