"""Streaming throughput: one 1 GiB download through request_in_stream vs urllib3 stream().

Both read 64 KiB chunks of the same static file, served by nginx on loopback
(``benchmarks/nginx.py``; without nginx, the asyncio origin, and the output
says FALLBACK), client and server on different cores where there are two,
and only count the bytes; rounds alternate and the report gives medians.

    python benchmarks/bench_stream.py [--size-mib 1024] [--rounds 3]

Target: netstack at least 0.95x urllib3 stream().
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import urllib3

import netstack
from benchmarks.nginx import pin_client, static_origin

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
    pinning = pin_client()
    with tempfile.TemporaryDirectory() as site:
        with open(Path(site, "big"), "wb") as big:
            big.truncate(size)  # sparse: zeros, no disk written
        with static_origin(Path(site)) as origin, netstack.Scheduler(max_workers=1) as scheduler:
            url = f"{origin.base}/big"
            for number in range(args.rounds):
                if number % 2:
                    ours.append(_netstack(url, size, scheduler))
                    raw.append(_raw(url, size))
                else:
                    raw.append(_raw(url, size))
                    ours.append(_netstack(url, size, scheduler))
    mib = 1024 * 1024
    print(f"command: python benchmarks/bench_stream.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"origin: {origin.label}; {pinning}")
    print(f"size={args.size_mib} MiB rounds={args.rounds} chunk=64 KiB")
    print(f"urllib3 stream()           median {statistics.median(raw) / mib:8.1f} MiB/s")
    print(f"netstack request_in_stream median {statistics.median(ours) / mib:8.1f} MiB/s")
    ratio = statistics.median(ours) / statistics.median(raw)
    print(f"ratio netstack / urllib3 = {ratio:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
