"""Queue costs: memory per queued request and submit throughput from one thread.

Every worker is kept busy on a request that does not finish until the
measurement is over, so everything submitted stays queued.

    python benchmarks/bench_queue.py [--queued 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import netstack


class _Blocking(BaseHTTPRequestHandler):
    release = threading.Event()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.release.wait(120)
        self.send_response(204)
        self.end_headers()


@contextmanager
def blocking_origin() -> Iterator[str]:
    _Blocking.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blocking)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        _Blocking.release.set()
        server.shutdown()
        server.server_close()


def _round(base: str, queued: int, measure_memory: bool) -> tuple[float, float]:
    scheduler = netstack.Scheduler(max_workers=2, max_per_host=2, name="bench-queue")
    busy = [scheduler.submit(f"{base}/block") for _ in range(2)]
    deadline = time.monotonic() + 10
    while scheduler.stats().running < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    urls = [f"{base}/item/{i}" for i in range(queued)]
    gc.collect()
    if measure_memory:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    futures = [scheduler.submit(url) for url in urls]
    elapsed = time.perf_counter() - start
    per_request = 0.0
    if measure_memory:
        per_request = (tracemalloc.get_traced_memory()[0] - before) / queued
        tracemalloc.stop()
    assert scheduler.stats().queued == queued
    scheduler.shutdown(wait=False, cancel_pending=True)
    _Blocking.release.set()
    for future in busy:
        future.exception(timeout=30)
    scheduler.shutdown(wait=True)
    assert all(f.cancelled() for f in futures)
    _Blocking.release.clear()
    return queued / elapsed, per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with blocking_origin() as base:
        _, memory = _round(base, args.queued, measure_memory=True)
        rates = [_round(base, args.queued, measure_memory=False)[0] for _ in range(args.rounds)]
    print(f"queued={args.queued} rounds={args.rounds}")
    print(f"memory per queued request: {memory:.0f} bytes (target <= 2048)")
    spread = ", ".join(f"{r:,.0f}" for r in rates)
    print(f"submit rate, one thread: median {statistics.median(rates):,.0f}/s [{spread}]")
    print("(target >= 50,000/s)")


if __name__ == "__main__":
    main()
