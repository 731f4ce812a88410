"""Client CPU per request: netstack vs raw urllib3 on a ThreadPoolExecutor.

All sides use the same concurrency against the same local origin (its own
process, so its CPU is not counted). Every round runs each side once, in
an order rotated from round to round, so machine noise hits all alike; the
report gives medians and their ratios.

urllib3 runs twice: as configured by default (no timeouts: blocking
sockets) and with netstack's default timeouts (60 s connect and read, the
seed's), the like-for-like peer. A socket with a timeout costs CPU of its
own: CPython polls before every send and recv and releases the GIL twice,
so the like-for-like peer is the one the target compares with; both ratios
are printed.

    python benchmarks/bench_cpu.py [--requests 5000] [--rounds 7] [--workers 8]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import urllib3

import netstack
from benchmarks.origin import running_origin

#: netstack's defaults (connect_timeout and read_timeout 60,000 ms).
NETSTACK_TIMEOUTS = urllib3.Timeout(connect=60.0, read=60.0)


def _raw_round(url: str, requests: int, workers: int) -> float:
    return _urllib3_round(url, requests, workers, urllib3.Timeout.DEFAULT_TIMEOUT)


def _raw_timeouts_round(url: str, requests: int, workers: int) -> float:
    return _urllib3_round(url, requests, workers, NETSTACK_TIMEOUTS)


def _urllib3_round(url: str, requests: int, workers: int, timeout: Any) -> float:
    pool = urllib3.PoolManager(maxsize=workers, retries=False, timeout=timeout)
    with ThreadPoolExecutor(max_workers=workers) as executor:

        def fetch() -> bytes:
            return pool.request("GET", url).data

        wait([executor.submit(fetch) for _ in range(workers * 4)])  # warm connections
        start = time.process_time()
        futures = [executor.submit(fetch) for _ in range(requests)]
        wait(futures)
        spent = time.process_time() - start
    assert all(len(f.result()) > 0 for f in futures)
    pool.clear()
    return spent / requests


def _netstack_round(url: str, requests: int, workers: int) -> float:
    with netstack.Scheduler(max_workers=workers, max_per_host=workers) as scheduler:
        wait([scheduler.submit(url) for _ in range(workers * 4)])
        start = time.process_time()
        futures = [scheduler.submit(url) for _ in range(requests)]
        wait(futures)
        spent = time.process_time() - start
    assert all(f.result().response_code == 200 for f in futures)
    return spent / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    sides: dict[str, Callable[[str, int, int], float]] = {
        "urllib3 + ThreadPoolExecutor, no timeouts": _raw_round,
        "urllib3 + ThreadPoolExecutor, 60 s timeouts": _raw_timeouts_round,
        "netstack Scheduler.submit (60 s timeouts)": _netstack_round,
    }
    results: dict[str, list[float]] = {name: [] for name in sides}
    with running_origin() as base:
        url = f"{base}/item"
        names = list(sides)
        for number in range(args.rounds):
            shift = number % len(names)  # rotated, so no side always runs first or last
            for name in names[shift:] + names[:shift]:
                results[name].append(sides[name](url, args.requests, args.workers))
    medians = {name: statistics.median(values) for name, values in results.items()}
    raw, like, ours = medians.values()
    print(f"requests/round={args.requests} rounds={args.rounds} workers={args.workers}")
    for name, median in medians.items():
        spread = ", ".join(f"{v * 1e6:.0f}" for v in results[name])
        print(f"{name:45s} median {median * 1e6:7.1f} us CPU/request  [{spread}]")
    print(f"ratio netstack / urllib3 with the same timeouts = {ours / like:.3f}  (target <= 1.10)")
    print(f"ratio netstack / urllib3 without timeouts       = {ours / raw:.3f}")


if __name__ == "__main__":
    main()
