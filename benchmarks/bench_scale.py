"""Scale: a million queued requests over a thousand hosts, and what politeness costs.

Three figures (issue 8, Performance):

1. memory per queued request, 1,000,000 requests over 1,000 hosts, real
   ``Scheduler.submit`` calls (the one worker is kept busy, so all stay queued);
2. dispatch time per request with 10^6 queued vs 10^3 queued (median of 3):
   the scheduler's worker takes no-op jobs off the queue (lock, heap pops,
   future resolved), timed over the first 20,000 (all of the 10^3); and the
   same for the pure HostQueue (pop + done);
3. politeness bookkeeping: the pure cost per start (pacer, hold, timer,
   release), and client CPU (``time.process_time``, all threads of this
   process) per real HTTP request over loopback to 1,000 host names (127.0.x.y,
   one origin on 0.0.0.0 in a child process, so its CPU is not counted),
   without and with policies that pace every host; rounds are interleaved and
   both the minimum and the median are shown (the minimum is the least
   disturbed by other load on the machine).

    PYTHONPATH=src:. python benchmarks/bench_scale.py [--queued 1000000] [--hosts 1000]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from concurrent.futures import wait

import netstack
from netstack.dispatch.queue import HostQueue
from netstack.dispatch.timers import Timers
from netstack.scheduler.politeness import pacer_for


class _Job:
    """A job that does nothing (or waits on a gate): dispatch cost only."""

    __slots__ = (
        "cache_miss",
        "from_cache",
        "gate",
        "host_key",
        "priority",
        "settled",
        "settled_error",
        "settled_result",
        "url",
    )

    def __init__(self, host: str, priority: int, gate: threading.Event | None = None) -> None:
        self.host_key = host
        self.url = f"http://{host}/"
        self.priority = priority
        self.settled = False
        self.settled_result: object = None
        self.settled_error: BaseException | None = None
        self.from_cache = False
        self.cache_miss = False
        self.gate = gate

    def run(self) -> object:
        if self.gate is not None:
            self.gate.wait(600)
        return None

    def abort(self) -> None:
        pass


def _paused(**kwargs: object) -> tuple[netstack.Scheduler, threading.Event]:
    scheduler = netstack.Scheduler(max_workers=1, **kwargs)  # type: ignore[arg-type]
    gate = threading.Event()
    future = scheduler.jobs.submit(_Job("gate", 1, gate))
    while not future.running():
        time.sleep(0.001)
    return scheduler, gate


def memory_per_request(queued: int, hosts: int) -> float:
    scheduler, gate = _paused(name="bench-scale-memory")
    urls = [f"http://h{i % hosts}.invalid/item/{i}" for i in range(queued)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    futures = [scheduler.submit(url, {"priority": i % 10 + 1}) for i, url in enumerate(urls)]
    per_request = (tracemalloc.get_traced_memory()[0] - before) / queued
    tracemalloc.stop()
    assert scheduler.stats().queued == queued
    scheduler.shutdown(wait=False, cancel_pending=True)
    gate.set()
    scheduler.shutdown()
    del futures
    return per_request


def dispatch_per_request(queued: int, hosts: int, measured: int) -> float:
    """Seconds per dispatch (worker side: lock, pops, run, future resolved) over ``measured``."""
    scheduler, gate = _paused(max_per_host=8, name="bench-scale-dispatch")
    futures = [scheduler.jobs.submit(_Job(f"h{i % hosts}", i % 10 + 1)) for i in range(queued)]
    count = itertools.count(1)
    reached = threading.Event()

    def on_done(_: object) -> None:  # on the worker; no other thread competes for the GIL
        if next(count) == measured:
            reached.set()

    for future in futures:
        future.add_done_callback(on_done)
    gc.collect()
    start = time.perf_counter()
    gate.set()
    reached.wait()
    elapsed = time.perf_counter() - start
    scheduler.shutdown(wait=True, cancel_pending=True)
    return elapsed / measured


def queue_pop_per_request(queued: int, hosts: int, measured: int) -> float:
    """The pure HostQueue: seconds per pop + done at ``queued`` waiting."""
    q: HostQueue[int] = HostQueue(max_per_host=8)
    for i in range(queued):
        q.push(i, f"h{i % hosts}", i % 10 + 1)
    start = time.perf_counter()
    for _ in range(measured):
        entry = q.pop()
        assert entry is not None
        q.done(entry.host.name)
    return (time.perf_counter() - start) / measured


def pacing_bookkeeping(hosts: int, rounds: int) -> float:
    """Seconds per start of the pure politeness work: pacer, hold, timer push/pop, release."""
    pacer = pacer_for(netstack.PolitenessPolicy(min_delay=1.0, rate=10.0))
    q: HostQueue[int] = HostQueue(max_per_host=8)
    timers: Timers[str] = Timers()
    names = [f"h{i}" for i in range(hosts)]
    now = 0.0
    start = time.perf_counter()
    for r in range(rounds):
        now = r * 1.1
        for host in timers.pop_due(now):
            q.release(host)
        for host in names:
            due = pacer.started(host, now)
            if due > now:
                timers.push(due, host)
                q.hold(host)
    return (time.perf_counter() - start) / (rounds * hosts)


_ORIGIN = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a):
            pass
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("0.0.0.0", 0), H)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def client_cpu_per_request(
    port: int, hosts: int, n: int, politeness: netstack.PolitenessPolicy | None
) -> float:
    """process_time per request for ``n`` GETs spread over ``hosts`` loopback addresses."""
    urls = [
        f"http://127.0.{1 + (i % hosts) // 250}.{1 + (i % hosts) % 250}:{port}/{i}"
        for i in range(n)
    ]
    with netstack.Scheduler(max_workers=8, max_per_host=2, politeness=politeness) as scheduler:
        warm = [scheduler.submit(u) for u in urls[:hosts]]
        wait(warm)
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        futures = [scheduler.submit(u) for u in urls]
        wait(futures)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    failed = sum(1 for f in futures if f.exception() is not None)
    assert not failed, f"{failed} requests failed"
    return cpu / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--measured", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3000, help="HTTP requests per CPU round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"$ PYTHONPATH=src:. {sys.executable} benchmarks/bench_scale.py " + " ".join(sys.argv[1:])
    )

    memory = memory_per_request(args.queued, args.hosts)
    print(
        f"memory per queued request, {args.queued:,} over {args.hosts:,} hosts: "
        f"{memory:.0f} bytes (target <= 2048)"
    )

    small = min(1000, args.queued)
    for label, fn in (
        ("scheduler dispatch", dispatch_per_request),
        ("queue pop", queue_pop_per_request),
    ):
        big_t = statistics.median(fn(args.queued, args.hosts, args.measured) for _ in range(3))
        small_t = statistics.median(
            fn(small, args.hosts, min(args.measured, small)) for _ in range(3)
        )
        print(
            f"{label} per request: {big_t * 1e6:.2f} us at {args.queued:,} queued, "
            f"{small_t * 1e6:.2f} us at {small:,} queued: ratio {big_t / small_t:.2f} (target <= 2)"
        )

    book = pacing_bookkeeping(args.hosts, 200)
    print(
        f"politeness bookkeeping (pure: pacer + hold + timer + release): {book * 1e6:.2f} us/start"
    )

    origin = subprocess.Popen([sys.executable, "-c", _ORIGIN], stdout=subprocess.PIPE, text=True)
    try:
        assert origin.stdout is not None
        port = int(origin.stdout.readline())
        policies = {
            "plain": None,
            "min_delay=1ms": netstack.PolitenessPolicy(min_delay=0.001),
            "min_delay=0.5s": netstack.PolitenessPolicy(min_delay=0.5),
            "rate=2/s": netstack.PolitenessPolicy(rate=2.0),
        }
        cpu: dict[str, list[float]] = {name: [] for name in policies}
        for _ in range(args.rounds):  # interleaved, so that load from elsewhere hits all alike
            for name, policy in policies.items():
                cpu[name].append(client_cpu_per_request(port, args.hosts, args.requests, policy))
    finally:
        origin.terminate()
        origin.wait(10)
    base_min, base_med = min(cpu["plain"]), statistics.median(cpu["plain"])
    print(
        f"client CPU per HTTP request, {args.requests:,} over {args.hosts:,} hosts "
        f"(min / median of {args.rounds}; target: politeness <= +10%):"
    )
    for name, values in cpu.items():
        low, mid = min(values), statistics.median(values)
        print(
            f"  {name:>15}: {low * 1e6:5.0f} / {mid * 1e6:5.0f} us"
            f"  ({100 * (low / base_min - 1):+.1f}% / {100 * (mid / base_med - 1):+.1f}%)"
        )


if __name__ == "__main__":
    main()
