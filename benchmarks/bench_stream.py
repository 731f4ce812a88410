"""Streaming throughput: one 1 GiB download through request_in_stream vs urllib3 stream().

Both read 64 KiB chunks from the same local origin (its own process) and
only count the bytes; rounds alternate and the report gives medians.

    python benchmarks/bench_stream.py [--size-mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import urllib3

import netstack
from benchmarks.origin import running_origin

CHUNK = 64 * 1024


def _raw(url: str, size: int) -> float:
    pool = urllib3.PoolManager(retries=False)
    start = time.perf_counter()
    response = pool.request("GET", url, preload_content=False)
    total = sum(len(chunk) for chunk in response.stream(CHUNK))
    elapsed = time.perf_counter() - start
    response.release_conn()
    assert total == size
    return size / elapsed


def _netstack(url: str, size: int, scheduler: netstack.Scheduler) -> float:
    http = netstack.create_http(scheduler)
    received = [0]

    def count(chunk: bytes) -> None:
        received[0] += len(chunk)

    http.on("dataReceive", count)
    start = time.perf_counter()
    code = http.request_in_stream(url).result(timeout=600)
    elapsed = time.perf_counter() - start
    assert code == 200
    assert received[0] == size
    return size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    raw: list[float] = []
    ours: list[float] = []
    with running_origin() as base, netstack.Scheduler(max_workers=1) as scheduler:
        url = f"{base}/bytes/{size}"
        for _ in range(args.rounds):
            raw.append(_raw(url, size))
            ours.append(_netstack(url, size, scheduler))
    mib = 1024 * 1024
    print(f"size={args.size_mib} MiB rounds={args.rounds} chunk=64 KiB")
    print(f"urllib3 stream()           median {statistics.median(raw) / mib:8.1f} MiB/s")
    print(f"netstack request_in_stream median {statistics.median(ours) / mib:8.1f} MiB/s")
    ratio = statistics.median(ours) / statistics.median(raw)
    print(f"ratio netstack / urllib3 = {ratio:.3f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
