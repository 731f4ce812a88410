"""Priority under load: a priority-1000 request behind 10,000 priority-1 requests.

Every worker is busy and 10,000 priority-1 requests wait; then one
priority-1000 request is submitted. Its queue time (from submit to start) is
compared with the median service time of the requests around it.

    python benchmarks/bench_priority.py [--backlog 10000] [--rounds 5] [--workers 8]
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import wait

import netstack
from benchmarks.origin import running_origin


def _round(base: str, backlog: int, workers: int, delay_ms: int) -> tuple[float, float]:
    with netstack.Scheduler(max_workers=workers, max_per_host=workers) as scheduler:
        url = f"{base}/delay/{delay_ms}"
        wait([scheduler.submit(url) for _ in range(workers * 2)])  # warm connections
        low = [scheduler.submit(url) for _ in range(backlog)]
        time.sleep(delay_ms / 1000 * 3)  # the pool is saturated, the backlog waits
        urgent = scheduler.submit(url, {"priority": 1000})
        response = urgent.result(timeout=120)
        started_after = response.performance_timing.queue_timing
        scheduler.shutdown(wait=True, cancel_pending=True)
        done = [f.result() for f in low if not f.cancelled()]
        service = statistics.median(
            r.performance_timing.total_timing - r.performance_timing.queue_timing for r in done
        )
    return started_after, service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--delay-ms", type=int, default=20)
    args = parser.parse_args()
    ratios = []
    with running_origin() as base:
        for _ in range(args.rounds):
            waited, service = _round(base, args.backlog, args.workers, args.delay_ms)
            ratios.append(waited / service)
            print(f"  urgent waited {waited:7.2f} ms; median service {service:6.2f} ms")
    print(f"backlog={args.backlog} workers={args.workers} origin delay={args.delay_ms} ms")
    print(f"urgent start / median service time: median {statistics.median(ratios):.2f}")
    print("(target <= 2.0)")


if __name__ == "__main__":
    main()
