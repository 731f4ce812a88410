"""A polite little crawl: priorities, per-host spacing, retries, a summary.

Start the local origin first (``netstack serve``), then::

    python examples/crawl.py [BASE_URL] [PAGES]    # default http://127.0.0.1:8000, 50
"""

from __future__ import annotations

import collections
import sys
from concurrent.futures import as_completed

import netstack


def main(base: str, pages: int) -> int:
    """Fetch ``pages`` pages of ``base``, the first ten first; 0 if every one answered 200."""
    scheduler = netstack.Scheduler(
        max_workers=8,
        max_per_host=4,
        retry=netstack.RetryPolicy(attempts=3, backoff=0.1),
        politeness=netstack.PolitenessPolicy(min_delay=0.005),
    )
    with scheduler:
        futures = [
            scheduler.submit(f"{base}/get?page={i}", {"priority": 100 if i < 10 else 1})
            for i in range(pages)
        ]
        statuses: collections.Counter[int] = collections.Counter()
        for future in as_completed(futures):
            statuses[future.result().response_code] += 1
        print("statuses:", dict(statuses))
        print(scheduler.stats())
    return 0 if statuses == {200: pages} else 1


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    sys.exit(main(base, int(sys.argv[2]) if len(sys.argv) > 2 else 50))
