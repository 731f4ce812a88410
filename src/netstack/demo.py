"""``netstack demo``: a self-contained, offline tour against a loopback origin.

It starts an origin on 127.0.0.1 (slow, cacheable and large endpoints), keeps
every worker busy, queues requests of mixed priorities and shows that higher
priorities finish first; then it fetches a cacheable resource twice and shows
that the second answer came from the response cache.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO
from urllib.parse import parse_qs, urlsplit

from netstack.api import create_http
from netstack.cache import HttpResponseCache, MemoryStorage
from netstack.scheduler import Scheduler


class _Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints its own report."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        headers = {"Content-Type": "text/plain"}
        if url.path == "/slow":
            time.sleep(int(query.get("ms", ["50"])[0]) / 1000)
            body = b"slow"
        elif url.path == "/cacheable":
            headers["Cache-Control"] = "max-age=60"
            headers["ETag"] = '"v1"'
            body = b"cached for a minute"
        elif url.path == "/large":
            body = b"x" * int(query.get("size", ["1048576"])[0])
            headers["Content-Type"] = "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def origin() -> Iterator[str]:
    """A loopback origin for the demo; yields its base URL and always stops."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-origin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def run(out: TextIO, *, requests: int = 24, seed: int = 7) -> int:
    """Run the tour, print the report to ``out``, return a process exit code."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not security
    with origin() as base, Scheduler(max_workers=2, max_per_host=2, name="demo") as scheduler:
        blockers = [
            create_http(scheduler).request(f"{base}/slow?ms=300", {"priority": 1000})
            for _ in range(2)
        ]
        time.sleep(0.05)  # both workers are now busy: everything below waits in the queue
        finished: list[int] = []
        lock = threading.Lock()
        futures = []
        for _ in range(requests):
            priority = rng.choice([1, 10, 100, 500, 1000])

            def done(err: object, data: object, priority: int = priority) -> None:
                with lock:
                    finished.append(priority)

            futures.append(
                create_http(scheduler).request(f"{base}/slow?ms=5", {"priority": priority}, done)
            )
        for future in [*blockers, *futures]:
            future.result(timeout=30)
        out.write("Pass 1: requests queued behind busy workers, in order of completion\n")
        out.write(f"  {'order':>5}  {'priority':>8}\n")
        for order, priority in enumerate(finished, 1):
            out.write(f"  {order:>5}  {priority:>8}\n")
        in_order = finished == sorted(finished, reverse=True)
        out.write(f"  higher priorities finished first: {'yes' if in_order else 'NO'}\n\n")

    cache = HttpResponseCache(storage=MemoryStorage())
    with origin() as base, Scheduler(max_workers=2, cache=cache, name="demo-cache") as scheduler:
        first = create_http(scheduler).request(f"{base}/cacheable").result(timeout=30)
        second = create_http(scheduler).request(f"{base}/cacheable").result(timeout=30)
        out.write("Pass 2: the same cacheable resource twice\n")
        for label, response in (("first", first), ("second", second)):
            timing = response.performance_timing.total_timing
            out.write(
                f"  {label:>6}: {response.response_code} from_cache={response.from_cache} "
                f"total={timing:.2f} ms\n"
            )
        stats = scheduler.stats()
        out.write(f"\nSummary: {stats}\n")
    return 0 if in_order and second.from_cache and not first.from_cache else 1
