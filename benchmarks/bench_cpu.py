"""Client CPU per request: netstack vs raw urllib3 on a ThreadPoolExecutor, against nginx.

All sides use the same concurrency against the same static file (100 bytes
by default) served by nginx on loopback (``benchmarks/nginx.py``; without
nginx, the asyncio origin, and the output says FALLBACK), the client and the
server pinned to different cores where there are two. Every round runs each
side once, in an order rotated from round to round, so machine noise hits
all alike; the report gives medians of client CPU per request
(``time.process_time`` of this process, every thread) and of requests/s,
and their ratios.

Each side is driven two ways, since a figure must not depend on the
harness: ``burst`` submits every request of the round at once (the queue
holds them all), ``window`` keeps exactly ``--workers`` requests in flight,
a new one submitted as one ends (``benchmarks/peers.py``'s closed loop, the
peer table's regime). The target holds only if it holds in both.

urllib3 runs twice: as configured by default (no timeouts: blocking
sockets) and with netstack's default timeouts (60 s connect and read, the
@ohos.net.http defaults), the like-for-like peer. A socket with a timeout costs CPU of its
own: CPython polls before every send and recv and releases the GIL twice,
so the like-for-like peer is the one the target compares with; both ratios
are printed.

    python benchmarks/bench_cpu.py [--requests 20000] [--rounds 5] [--workers 8] [--size 100]
                                   [--modes burst,window]

Targets: netstack's CPU per request at most 0.80x urllib3 without timeouts, in every mode.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import urllib3

import netstack
from benchmarks.nginx import pin_client, static_origin
from benchmarks.peers import drive

#: netstack's defaults (connect_timeout and read_timeout 60,000 ms).
NETSTACK_TIMEOUTS = urllib3.Timeout(connect=60.0, read=60.0)


#: (client CPU seconds per request, requests per second) of one side in one round.
_Figures = tuple[float, float]


def _raw_round(url: str, requests: int, workers: int, mode: str) -> _Figures:
    return _urllib3_round(url, requests, workers, mode, urllib3.Timeout.DEFAULT_TIMEOUT)


def _raw_timeouts_round(url: str, requests: int, workers: int, mode: str) -> _Figures:
    return _urllib3_round(url, requests, workers, mode, NETSTACK_TIMEOUTS)


def _measure(
    submit: Callable[[], Future[Any]],
    ok: Callable[[Any], bool],
    requests: int,
    workers: int,
    mode: str,
) -> _Figures:
    """Warm up, then time ``requests`` submissions in ``mode``; every answer must be ``ok``."""
    wait([submit() for _ in range(workers * 4)])  # warm connections
    start, wall = time.process_time(), time.perf_counter()
    if mode == "burst":
        futures = [submit() for _ in range(requests)]
        wait(futures)
    else:
        futures = []

        def kept() -> Future[Any]:
            future = submit()
            futures.append(future)
            return future

        drive(kept, requests, workers)
    spent, wall = time.process_time() - start, time.perf_counter() - wall
    assert len(futures) == requests
    assert all(ok(f.result()) for f in futures)
    return spent / requests, requests / wall


def _urllib3_round(url: str, requests: int, workers: int, mode: str, timeout: Any) -> _Figures:
    pool = urllib3.PoolManager(maxsize=workers, retries=False, timeout=timeout)
    with ThreadPoolExecutor(max_workers=workers) as executor:

        def fetch() -> bytes:
            return pool.request("GET", url).data

        def submit() -> Future[bytes]:
            return executor.submit(fetch)

        figures = _measure(submit, lambda body: len(body) > 0, requests, workers, mode)
    pool.clear()
    return figures


def _netstack_round(url: str, requests: int, workers: int, mode: str) -> _Figures:
    with netstack.Scheduler(max_workers=workers, max_per_host=workers) as scheduler:

        def submit() -> Future[Any]:
            return scheduler.submit(url)

        return _measure(
            submit, lambda response: response.response_code == 200, requests, workers, mode
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--size", type=int, default=100, help="response body bytes")
    parser.add_argument("--modes", default="burst,window", help="burst, window or both")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in ("burst", "window") for m in modes):
        parser.error("--modes takes burst, window or burst,window")
    sides: dict[str, Callable[[str, int, int, str], _Figures]] = {
        "urllib3 + ThreadPoolExecutor, no timeouts": _raw_round,
        "urllib3 + ThreadPoolExecutor, 60 s timeouts": _raw_timeouts_round,
        "netstack Scheduler.submit (60 s timeouts)": _netstack_round,
    }
    runs = [(name, mode) for mode in modes for name in sides]
    results: dict[tuple[str, str], list[_Figures]] = {run: [] for run in runs}
    pinning = pin_client()
    with tempfile.TemporaryDirectory() as site:
        Path(site, "item").write_bytes(b"x" * args.size)
        with static_origin(Path(site)) as origin:
            url = f"{origin.base}/item"
            for number in range(args.rounds):
                shift = number % len(runs)  # rotated, so no run always comes first or last
                for name, mode in runs[shift:] + runs[:shift]:
                    figures = sides[name](url, args.requests, args.workers, mode)
                    results[(name, mode)].append(figures)
    cpu = {run: statistics.median(v[0] for v in values) for run, values in results.items()}
    rps = {run: statistics.median(v[1] for v in values) for run, values in results.items()}
    print(f"command: python benchmarks/bench_cpu.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"origin: {origin.label}; {pinning}")
    print(
        f"requests/round={args.requests} rounds={args.rounds} workers={args.workers} "
        f"body={args.size} B; medians of interleaved rounds"
    )
    raw, like, ours = sides
    for mode in modes:
        print(f"mode {mode}:")
        for name in sides:
            values = results[(name, mode)]
            spread = ", ".join(f"{v[0] * 1e6:.0f}" for v in values)
            print(
                f"  {name:45s} median {cpu[(name, mode)] * 1e6:7.1f} us CPU/request "
                f"{rps[(name, mode)]:9,.0f} req/s  [CPU: {spread}]"
            )
        print(
            f"  ratio netstack / urllib3 without timeouts: "
            f"CPU {cpu[(ours, mode)] / cpu[(raw, mode)]:.3f} (target <= 0.80), "
            f"req/s {rps[(ours, mode)] / rps[(raw, mode)]:.3f}"
        )
        print(
            f"  ratio netstack / urllib3 with the same timeouts: "
            f"CPU {cpu[(ours, mode)] / cpu[(like, mode)]:.3f}, "
            f"req/s {rps[(ours, mode)] / rps[(like, mode)]:.3f}"
        )


if __name__ == "__main__":
    main()
