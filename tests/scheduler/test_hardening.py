"""Issue 19, the dispatcher's part: shutdown from any worker-thread context, memory of a
bulk cancel and of failed futures, and a retry in backoff during shutdown(persist=...).

The shutdown and memory checks run in a subprocess: a deadlock must not hang the
suite (the subprocess has a timeout) and memory is measured in a clean process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from policy_servers import origins

from netstack import PolitenessPolicy, RetryPolicy, Scheduler
from netstack.scheduler.persist import read_queue

HERE = Path(__file__).parent

SHUTDOWN_SCRIPT = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from netstack import Scheduler, create_http

submitted = threading.Event()  # answers wait until the three are queued

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        submitted.wait(20)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")

server = ThreadingHTTPServer(("127.0.0.1", 0), H)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d/" % server.server_address[1]
kind, wait = sys.argv[1], sys.argv[2] == "wait"
s = Scheduler(max_workers=2, max_per_host=2)
futures = []
for i in range(3):
    if kind == "done_callback":
        f = s.submit(url + str(i))
        f.add_done_callback(lambda f: s.shutdown(wait=wait))
    elif kind == "request_callback":
        f = create_http(s).request(url + str(i), {}, lambda err, data: s.shutdown(wait=wait))
    else:  # an event listener, called on the worker while the request runs
        task = create_http(s)
        task.on("headersReceive", lambda *a: s.shutdown(wait=wait))
        f = task.request(url + str(i), {})
    futures.append(f)
submitted.set()
for f in futures:
    f.exception(timeout=20)  # every future ends (a result, or the shutdown error)
print("ended", sum(f.done() for f in futures))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["done_callback", "request_callback", "listener"])
@pytest.mark.parametrize("wait", ["wait", "nowait"])
def test_shutdown_from_a_worker_thread_strands_nothing_and_lets_the_process_exit(
    kind: str, wait: str
) -> None:
    """A worker never waits for itself; every future ends; the interpreter exits."""
    done = subprocess.run(
        [sys.executable, "-c", SHUTDOWN_SCRIPT, kind, wait],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ended 3"


BULK_CANCEL_SCRIPT = """
import gc, resource, threading, sys
sys.path.insert(0, sys.argv[2])
from scheduler_fakes import FakeJob, MinimalJob
from netstack import Scheduler

n = int(sys.argv[1])
s = Scheduler(max_workers=1, max_per_host=1)
gate = threading.Event()
blocker = FakeJob("gate", host="gate", gate=gate)
s.jobs.submit(blocker)
blocker.started.wait(10)
futures = [
    s.jobs.submit(MinimalJob(f"http://h{i % 50}/{i}", f"h{i % 50}", i % 10 + 1)) for i in range(n)
]
gc.collect()
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
before = rss()
s.shutdown(wait=False, cancel_pending=True)
after = rss()
gate.set()
s.shutdown(wait=True)
print(sum(f.cancelled() for f in futures), after - before)
"""


@pytest.mark.timeout(180)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_cancelling_a_huge_queue_allocates_almost_nothing_per_request() -> None:
    """200k queued: shutdown(cancel_pending=True) cancels them all; peak RSS grows < 40 B each."""
    n = 200_000
    done = subprocess.run(
        [sys.executable, "-c", BULK_CANCEL_SCRIPT, str(n), str(HERE)],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cancelled, grown = map(int, done.stdout.split())
    assert cancelled == n
    assert grown < 40 * n, f"peak RSS grew {grown} bytes ({grown / n:.0f} per request)"


FAILED_MEMORY_SCRIPT = """
import gc, socket, sys, tracemalloc
from netstack import Scheduler

probe = socket.socket(); probe.bind(("127.0.0.1", 0)); port = probe.getsockname()[1]; probe.close()
n = int(sys.argv[1])
s = Scheduler(max_workers=4)
s.submit("http://127.0.0.1:%d/warm" % port).exception(timeout=20)  # import and warm everything
gc.collect()
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
futures = [s.submit("http://127.0.0.1:%d/%d" % (port, i)) for i in range(n)]
errors = [f.exception(timeout=30) for f in futures]
s.shutdown(wait=True)
gc.collect()
kept = tracemalloc.get_traced_memory()[0] - base
codes = {getattr(e, "code", None) for e in errors}
cause = errors[0].__cause__ is not None
print(json.dumps({"per_future": kept / n, "codes": sorted(codes), "cause": cause}))
""".replace("import gc,", "import json, gc,")


@pytest.mark.timeout(180)
def test_a_failed_future_keeps_no_traceback_frames() -> None:
    """Connect failures kept by their futures: a few KB each at most, the cause still there."""
    done = subprocess.run(
        [sys.executable, "-c", FAILED_MEMORY_SCRIPT, "400"],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["codes"] == [2300007]
    assert report["cause"] is True
    assert report["per_future"] < 4500, report


@pytest.mark.timeout(60)
def test_a_request_in_backoff_during_shutdown_persist_is_resolved_not_persisted(
    tmp_path: Path,
) -> None:
    """Either resolved or persisted, never both: the one in backoff ran, so it ends with its
    last outcome and is not written; the one that never ran (its host held by politeness)
    is written and cancelled."""
    path = tmp_path / "queue.json"
    with origins(1) as (origin,):
        scheduler = Scheduler(
            max_workers=1,
            retry=RetryPolicy(backoff=30, jitter=0),
            politeness=PolitenessPolicy(min_delay=30),
        )
        backing_off = scheduler.submit(f"{origin.url}/flaky?key=p&fail=5")
        deadline = time.monotonic() + 10
        while scheduler.stats().retrying == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.stats().retrying == 1
        never_ran = scheduler.submit(f"{origin.url}/ok")
        scheduler.shutdown(wait=True, persist=path)
        assert backing_off.result(timeout=5).response_code == 503  # its last outcome
        assert never_ran.cancelled()
        assert read_queue(path) == [(f"{origin.url}/ok", {"priority": 1})]
        stats = scheduler.stats()
        assert (stats.completed, stats.cancelled, stats.retrying, stats.queued) == (1, 1, 0, 0)
        assert (origin.count("/flaky"), origin.count("/ok")) == (1, 0)
