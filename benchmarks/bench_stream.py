"""Streaming throughput: one 1 GiB download through request_in_stream vs urllib3 stream().

Both read 64 KiB chunks of the same static file, served by nginx on loopback
(``benchmarks/nginx.py``; without nginx, the asyncio origin, and the output
says FALLBACK), client and server on different cores where there are two,
and only count the bytes and chunks (both must see every byte, in the same
number of chunks of at most 64 KiB).

One unmeasured pair warms both up; then each round downloads once with each
client, the order alternating. Every round gives two figures per client:
wall throughput, and client CPU per GiB (``resource.getrusage`` of this
process, user + system; netstack's idle threads cost nothing). The ratios
are medians of the per-round ratios, so a slow stretch of a loaded machine
hits both sides of a pair alike; the CPU ratio is the steadier one where
other work shares the cores.

``--instructions`` adds the figure a loaded machine does not move: each
client downloads once under valgrind's callgrind at two sizes (32 and 160
MiB) in a child process; the difference divided by the extra chunks is the
client's user-space instructions per 64 KiB chunk (the kernel's copy is not
counted), start-up and the origin (its own process) cancelled out.

    python benchmarks/bench_stream.py [--size-mib 1024] [--rounds 7] [--instructions]

Target: netstack at least 0.95x urllib3 stream().
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import urllib3

import netstack
from benchmarks.nginx import pin_client, static_origin

CHUNK = 64 * 1024
MIB = 1024 * 1024
#: Download sizes (MiB) of the two callgrind runs per client.
_COUNTED = (32, 160)
_COLLECTED = re.compile(r"Collected : (\d+)")


class Run(NamedTuple):
    """One download: seconds of wall time and of client CPU, chunks delivered."""

    wall: float
    cpu: float
    chunks: int


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _raw(url: str, size: int) -> Run:
    pool = urllib3.PoolManager(retries=False)
    cpu = _cpu()
    start = time.perf_counter()
    response = pool.request("GET", url, preload_content=False)
    total = chunks = 0
    for chunk in response.stream(CHUNK):
        total += len(chunk)
        chunks += 1
    elapsed = time.perf_counter() - start
    used = _cpu() - cpu
    response.release_conn()
    assert total == size, total
    return Run(elapsed, used, chunks)


def _netstack(url: str, size: int, scheduler: netstack.Scheduler) -> Run:
    http = netstack.create_http(scheduler)
    received = [0, 0]

    def count(chunk: bytes) -> None:
        received[0] += len(chunk)
        received[1] += 1

    http.on("dataReceive", count)
    cpu = _cpu()
    start = time.perf_counter()
    code = http.request_in_stream(url).result(timeout=600)
    elapsed = time.perf_counter() - start
    used = _cpu() - cpu
    assert code == 200
    assert received[0] == size, received[0]
    return Run(elapsed, used, received[1])


def _download(side: str, url: str, size: int) -> None:
    """The child of ``--instructions``: one download by one client."""
    if side == "urllib3":
        _raw(url, size)
        return
    with netstack.Scheduler(max_workers=1) as scheduler:
        _netstack(url, size, scheduler)


def _instructions(side: str, base: str, mib: int) -> int:
    """Instructions callgrind counted in a child downloading ``mib`` MiB with ``side``."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--side",
        side,
        "--url",
        f"{base}/counted-{mib}",
        "--size-mib",
        str(mib),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def _per_chunk(base: str, site: Path) -> dict[str, float]:
    """Each client's instructions per 64 KiB chunk, from two download sizes."""
    small, large = _COUNTED
    for mib in _COUNTED:
        with open(site / f"counted-{mib}", "wb") as file:
            file.truncate(mib * MIB)
    extra = (large - small) * MIB // CHUNK
    return {
        side: (_instructions(side, base, large) - _instructions(side, base, small)) / extra
        for side in ("urllib3", "netstack")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="also count (callgrind)")
    parser.add_argument("--side", choices=("urllib3", "netstack"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_mib * MIB
    if args.side is not None:
        _download(args.side, args.url, size)
        return
    counted: dict[str, float] = {}
    raw: list[Run] = []
    ours: list[Run] = []
    pinning = pin_client()
    with tempfile.TemporaryDirectory() as site:
        with open(Path(site, "big"), "wb") as big:
            big.truncate(size)  # sparse: zeros, no disk written
        with static_origin(Path(site)) as origin, netstack.Scheduler(max_workers=1) as scheduler:
            url = f"{origin.base}/big"
            _raw(url, size)  # warm-up pair, not counted
            _netstack(url, size, scheduler)
            for number in range(args.rounds):
                if number % 2:
                    ours.append(_netstack(url, size, scheduler))
                    raw.append(_raw(url, size))
                else:
                    raw.append(_raw(url, size))
                    ours.append(_netstack(url, size, scheduler))
            if args.instructions and shutil.which("valgrind") is not None:
                counted = _per_chunk(origin.base, Path(site))
    assert {run.chunks for run in raw} == {run.chunks for run in ours}, "different chunking"
    gib = size / (1024 * MIB)
    print(f"command: python benchmarks/bench_stream.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"origin: {origin.label}; {pinning}")
    print(f"size={args.size_mib} MiB rounds={args.rounds} (+1 warm-up) chunk=64 KiB")
    print(f"chunks per download: {raw[0].chunks} (both)")
    for name, runs in (("urllib3 stream()          ", raw), ("netstack request_in_stream", ours)):
        wall = statistics.median(size / run.wall for run in runs) / MIB
        cpu = statistics.median(run.cpu / gib for run in runs) * 1000
        print(f"{name} median {wall:8.1f} MiB/s  client CPU {cpu:6.0f} ms/GiB")
    walls = [r.wall / o.wall for r, o in zip(raw, ours, strict=True)]
    cpus = [r.cpu / o.cpu for r, o in zip(raw, ours, strict=True)]
    spread = f"{min(walls):.3f}..{max(walls):.3f}"
    print(f"ratio netstack / urllib3 = {statistics.median(walls):.3f}  (target >= 0.95)")
    print(f"  throughput, median of {len(walls)} rounds (range {spread})")
    print(f"  CPU: urllib3 CPU / netstack CPU = {statistics.median(cpus):.3f} (median of rounds)")
    if args.instructions and not counted:
        print("instructions: valgrind is not installed (apt-get install valgrind); skipped")
    elif counted:
        raw_count, our_count = counted["urllib3"], counted["netstack"]
        print(
            f"instructions per 64 KiB chunk (callgrind, {_COUNTED[1]} - {_COUNTED[0]} MiB): "
            f"urllib3 {raw_count:,.0f}, netstack {our_count:,.0f}, "
            f"ratio urllib3 / netstack = {raw_count / our_count:.3f}"
        )


if __name__ == "__main__":
    main()
