"""``netstack demo``: a self-contained, offline tour against a loopback origin.

It starts an origin on 127.0.0.1 (slow, cacheable and large endpoints), keeps
every worker busy, queues a batch of mixed priorities and shows that higher
priorities started and finished first; then it submits the same batch again
and shows that every answer came from the response cache, without queueing.
It ends with the summary ``netstack batch`` prints.
"""

from __future__ import annotations

import itertools
import random
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, TextIO
from urllib.parse import parse_qs, urlsplit

from rich.console import Console
from rich.table import Table

from netstack.cache import HttpResponseCache, MemoryStorage
from netstack.cli.summary import Summary
from netstack.response import HttpResponse
from netstack.scheduler import RequestFuture, Scheduler

PRIORITIES: Final = (1000, 500, 100, 10, 1)
WORKERS: Final = 2
SERVICE_MS: Final = 20  # each batch request's origin delay
LARGE: Final = 1024 * 1024
SMALL: Final = 2048


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
        elif url.path.startswith("/asset/"):  # slow, cacheable, of any size
            time.sleep(int(query.get("ms", ["0"])[0]) / 1000)
            body = b"a" * int(query.get("size", ["1024"])[0])
            headers["Content-Type"] = "application/octet-stream"
            headers["Cache-Control"] = "max-age=300"
            headers["ETag"] = f'"{url.path}"'
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


@dataclass(frozen=True)
class _Outcome:
    """One batch request: its priority, size and response, on the submitter's clock."""

    priority: int
    size: int
    submitted: float
    response: HttpResponse

    @property
    def started_ms(self) -> float:
        return self.submitted * 1000 + self.response.performance_timing.queue_timing

    @property
    def finished_ms(self) -> float:
        return self.submitted * 1000 + self.response.performance_timing.total_timing


def _plan(requests: int, seed: int) -> list[tuple[int, int]]:
    """``(priority, size)`` per request: every priority alike, shuffled; every 6th large."""
    priorities = [PRIORITIES[i % len(PRIORITIES)] for i in range(requests)]
    random.Random(seed).shuffle(priorities)  # noqa: S311 - reproducible, not secret
    return [(p, LARGE if i % 6 == 5 else SMALL) for i, p in enumerate(priorities)]


def _occupy_workers(scheduler: Scheduler, base: str) -> list[RequestFuture[Any]]:
    """Keep every worker busy for 300 ms, so the batch waits in the queue."""
    blockers = [scheduler.submit(f"{base}/slow?ms=300") for _ in range(WORKERS)]
    deadline = time.monotonic() + 5
    while scheduler.stats().running < WORKERS and time.monotonic() < deadline:
        time.sleep(0.005)
    return blockers


def _run_pass(scheduler: Scheduler, base: str, plan: Sequence[tuple[int, int]]) -> list[_Outcome]:
    pending = []
    for index, (priority, size) in enumerate(plan):
        url = f"{base}/asset/{index}?ms={SERVICE_MS}&size={size}"
        submitted = time.perf_counter()
        pending.append((priority, size, submitted, scheduler.submit(url, {"priority": priority})))
    return [
        _Outcome(priority, size, submitted, future.result(timeout=30))
        for priority, size, submitted, future in pending
    ]


def _inversions(outcomes: Sequence[_Outcome]) -> int:
    """Pairs where the higher priority started clearly (half a service time) after the lower."""
    slack = SERVICE_MS / 2
    return sum(
        1
        for a in outcomes
        for b in outcomes
        if a.priority > b.priority and a.started_ms > b.started_ms + slack
    )


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _table(first: Sequence[_Outcome], second: Sequence[_Outcome]) -> tuple[Table, bool]:
    """The per-priority table, and whether each group finished before the next lower one."""
    origin_ms = min(o.submitted for o in first) * 1000
    rank = {id(o): n for n, o in enumerate(sorted(first, key=lambda o: o.started_ms), 1)}
    table = Table(
        title="Pass 1 (cold cache, workers busy) and pass 2 (the same batch again)",
        caption=f"pass 1 was submitted while both workers were busy for 300 ms; "
        f"each request takes {SERVICE_MS} ms at the origin",
    )
    for header in (
        "priority",
        "requests",
        "bytes",
        "pass 1\nstart order",
        "pass 1 queued\nms, median",
        "pass 1 finished\nms, median",
        "pass 2\nfrom cache",
        "pass 2 total\nms, median",
    ):
        table.add_column(header, justify="right")
    finishes = []
    for priority in PRIORITIES:
        group = [o for o in first if o.priority == priority]
        again = [o for o in second if o.priority == priority]
        if not group:
            continue
        ranks = sorted(rank[id(o)] for o in group)
        finish = _median([o.finished_ms - origin_ms for o in group])
        finishes.append(finish)
        table.add_row(
            str(priority),
            str(len(group)),
            f"{sum(o.size for o in group):,}",
            f"{ranks[0]}-{ranks[-1]}",
            f"{_median([o.response.performance_timing.queue_timing for o in group]):.1f}",
            f"{finish:.1f}",
            f"{sum(o.response.from_cache for o in again)}/{len(again)}",
            f"{_median([o.response.performance_timing.total_timing for o in again]):.2f}",
        )
    in_order = all(a < b for a, b in itertools.pairwise(finishes))
    return table, in_order


def _verdict(console: Console, ok: bool, text: str) -> None:
    console.print(f"  {'[green]yes[/]' if ok else '[red]NO[/]'}  {text}")


def run(out: TextIO, *, requests: int = 24, seed: int = 7) -> int:
    """Run the tour, print the report to ``out``, return a process exit code."""
    console = Console(file=out, width=None if out.isatty() else 110, highlight=False)
    summary = Summary("Summary (both passes)")
    plan = _plan(requests, seed)
    cache = HttpResponseCache(storage=MemoryStorage())
    with (
        origin() as base,
        Scheduler(max_workers=WORKERS, max_per_host=WORKERS, cache=cache, name="demo") as scheduler,
    ):
        console.print(
            f"[bold]netstack demo[/]: origin {base}, {WORKERS} workers, "
            f"{requests} requests a pass, priorities {', '.join(map(str, PRIORITIES))}, "
            "an in-memory response cache\n"
        )
        blockers = _occupy_workers(scheduler, base)
        first = _run_pass(scheduler, base, plan)
        second = _run_pass(scheduler, base, plan)
        for outcome in (*first, *second):
            summary.add_response(outcome.response)
        for blocker in blockers:
            summary.add_response(blocker.result(timeout=30))
        summary.stop()
        stats = scheduler.stats()
    table, finished_in_order = _table(first, second)
    console.print(table)
    inversions = _inversions(first)
    all_cached = all(o.response.from_cache for o in second)
    first_network = not any(o.response.from_cache for o in first)
    _verdict(
        console,
        inversions == 0,
        f"higher priorities started first ({inversions} out-of-order pairs)",
    )
    _verdict(console, finished_in_order, "higher priorities finished first (median per group)")
    _verdict(
        console,
        all_cached and first_network,
        "pass 2 came from the cache, without waiting in the queue "
        f"(median {_median([o.response.performance_timing.total_timing for o in second]):.2f}"
        f" ms vs {_median([o.response.performance_timing.total_timing for o in first]):.1f}"
        " ms)",
    )
    console.print()
    console.print(summary.table())
    console.print(f"scheduler: {stats}", soft_wrap=True)
    ok = inversions == 0 and finished_in_order and all_cached and first_network
    return 0 if ok else 1
