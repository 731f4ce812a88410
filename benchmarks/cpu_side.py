"""One side of the CPU comparison, for instruction counting under valgrind.

    python benchmarks/cpu_side.py {urllib3|urllib3-timeouts|netstack} BASE_URL REQUESTS [WORKERS]

Runs REQUESTS GET requests at WORKERS concurrency against BASE_URL/item after
a warm-up, then exits. ``urllib3-timeouts`` gives urllib3 netstack's default
timeouts (60 s connect and read). ``bench_instructions.py`` runs it under callgrind with
two request counts and takes the difference, so start-up cost cancels out.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import urllib3

import netstack


def main() -> None:
    side, base, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    url = f"{base}/item"
    if side.startswith("urllib3"):
        timeout: Any = urllib3.Timeout(connect=60.0, read=60.0)
        if side == "urllib3":
            timeout = urllib3.Timeout.DEFAULT_TIMEOUT  # urllib3's default: none
        pool = urllib3.PoolManager(maxsize=workers, retries=False, timeout=timeout)
        with ThreadPoolExecutor(max_workers=workers) as executor:

            def fetch() -> bytes:
                return pool.request("GET", url).data

            wait([executor.submit(fetch) for _ in range(workers * 4)])
            futures = [executor.submit(fetch) for _ in range(requests)]
            wait(futures)
            assert all(len(f.result()) > 0 for f in futures)
    else:
        with netstack.Scheduler(max_workers=workers, max_per_host=workers) as scheduler:
            wait([scheduler.submit(url) for _ in range(workers * 4)])
            answers = [scheduler.submit(url) for _ in range(requests)]
            wait(answers)
            assert all(f.result().response_code == 200 for f in answers)


if __name__ == "__main__":
    main()
