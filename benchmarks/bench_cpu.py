"""Client CPU per request: netstack vs raw urllib3 on a ThreadPoolExecutor, against nginx.

All sides use the same concurrency against the same static file (100 bytes
by default) served by nginx on loopback (``benchmarks/nginx.py``; without
nginx, the asyncio origin, and the output says FALLBACK), the client and the
server pinned to different cores where there are two. Every round runs each
side once, in an order rotated from round to round, so machine noise hits
all alike; the report gives medians of client CPU per request
(``time.process_time`` of this process, every thread) and of requests/s,
and their ratios.

urllib3 runs twice: as configured by default (no timeouts: blocking
sockets) and with netstack's default timeouts (60 s connect and read, the
@ohos.net.http defaults), the like-for-like peer. A socket with a timeout costs CPU of its
own: CPython polls before every send and recv and releases the GIL twice,
so the like-for-like peer is the one the target compares with; both ratios
are printed.

    python benchmarks/bench_cpu.py [--requests 20000] [--rounds 5] [--workers 8] [--size 100]

Targets: netstack's CPU per request at most 0.80x urllib3 without timeouts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import urllib3

import netstack
from benchmarks.nginx import pin_client, static_origin

#: netstack's defaults (connect_timeout and read_timeout 60,000 ms).
NETSTACK_TIMEOUTS = urllib3.Timeout(connect=60.0, read=60.0)


#: (client CPU seconds per request, requests per second) of one side in one round.
_Figures = tuple[float, float]


def _raw_round(url: str, requests: int, workers: int) -> _Figures:
    return _urllib3_round(url, requests, workers, urllib3.Timeout.DEFAULT_TIMEOUT)


def _raw_timeouts_round(url: str, requests: int, workers: int) -> _Figures:
    return _urllib3_round(url, requests, workers, NETSTACK_TIMEOUTS)


def _urllib3_round(url: str, requests: int, workers: int, timeout: Any) -> _Figures:
    pool = urllib3.PoolManager(maxsize=workers, retries=False, timeout=timeout)
    with ThreadPoolExecutor(max_workers=workers) as executor:

        def fetch() -> bytes:
            return pool.request("GET", url).data

        wait([executor.submit(fetch) for _ in range(workers * 4)])  # warm connections
        start, wall = time.process_time(), time.perf_counter()
        futures = [executor.submit(fetch) for _ in range(requests)]
        wait(futures)
        spent, wall = time.process_time() - start, time.perf_counter() - wall
    assert all(len(f.result()) > 0 for f in futures)
    pool.clear()
    return spent / requests, requests / wall


def _netstack_round(url: str, requests: int, workers: int) -> _Figures:
    with netstack.Scheduler(max_workers=workers, max_per_host=workers) as scheduler:
        wait([scheduler.submit(url) for _ in range(workers * 4)])
        start, wall = time.process_time(), time.perf_counter()
        futures = [scheduler.submit(url) for _ in range(requests)]
        wait(futures)
        spent, wall = time.process_time() - start, time.perf_counter() - wall
    assert all(f.result().response_code == 200 for f in futures)
    return spent / requests, requests / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--size", type=int, default=100, help="response body bytes")
    args = parser.parse_args()
    sides: dict[str, Callable[[str, int, int], _Figures]] = {
        "urllib3 + ThreadPoolExecutor, no timeouts": _raw_round,
        "urllib3 + ThreadPoolExecutor, 60 s timeouts": _raw_timeouts_round,
        "netstack Scheduler.submit (60 s timeouts)": _netstack_round,
    }
    results: dict[str, list[_Figures]] = {name: [] for name in sides}
    pinning = pin_client()
    with tempfile.TemporaryDirectory() as site:
        Path(site, "item").write_bytes(b"x" * args.size)
        with static_origin(Path(site)) as origin:
            url = f"{origin.base}/item"
            names = list(sides)
            for number in range(args.rounds):
                shift = number % len(names)  # rotated, so no side always runs first or last
                for name in names[shift:] + names[:shift]:
                    results[name].append(sides[name](url, args.requests, args.workers))
    cpu = {name: statistics.median(v[0] for v in values) for name, values in results.items()}
    rps = {name: statistics.median(v[1] for v in values) for name, values in results.items()}
    print(f"command: python benchmarks/bench_cpu.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"origin: {origin.label}; {pinning}")
    print(
        f"requests/round={args.requests} rounds={args.rounds} workers={args.workers} "
        f"body={args.size} B; medians of interleaved rounds"
    )
    for name, values in results.items():
        spread = ", ".join(f"{v[0] * 1e6:.0f}" for v in values)
        print(
            f"{name:45s} median {cpu[name] * 1e6:7.1f} us CPU/request "
            f"{rps[name]:9,.0f} req/s  [CPU: {spread}]"
        )
    raw, like, ours = names
    print(
        f"ratio netstack / urllib3 without timeouts: CPU {cpu[ours] / cpu[raw]:.3f} "
        f"(target <= 0.80), req/s {rps[ours] / rps[raw]:.3f}"
    )
    print(
        f"ratio netstack / urllib3 with the same timeouts: CPU {cpu[ours] / cpu[like]:.3f}, "
        f"req/s {rps[ours] / rps[like]:.3f}"
    )


if __name__ == "__main__":
    main()
