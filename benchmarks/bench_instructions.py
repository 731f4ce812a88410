"""Client work per request, counted in CPU instructions: netstack vs raw urllib3.

CPU time on a shared 2-core machine swings by ±40 % between rounds; an
instruction count does not. Each side (``benchmarks/cpu_side.py``) runs under
valgrind's callgrind twice, with a small and a large number of requests at 8
in flight, against the same local origin (its own process, not counted); the
difference divided by the extra requests is the work per request, start-up
and warm-up cancelled out.

urllib3 is counted twice, without timeouts and with netstack's default
timeouts (60 s connect and read): a socket timeout changes which syscalls
run (a poll before each send and recv), not much the instructions counted.

``--nginx`` counts against nginx serving a 100-byte file, as ``bench_cpu.py``
measures (nginx's heads carry eight fields where the asyncio origin's carry
two, and each side parses them its own way).

    python benchmarks/bench_instructions.py [--small 100] [--large 300] [--workers 8] [--nginx]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.nginx import static_origin
from benchmarks.origin import running_origin

_COLLECTED = re.compile(r"Collected : (\d+)")


def _instructions(side: str, base: str, requests: int, workers: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "benchmarks/cpu_side.py",
        side,
        base,
        str(requests),
        str(workers),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=900)
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(match.group(1))


@contextlib.contextmanager
def _origin(nginx: bool) -> Iterator[tuple[str, str]]:
    """(base URL, label) of the origin the sides fetch ``/item`` from."""
    if not nginx:
        with running_origin() as base:
            yield base, "benchmarks/origin.py (asyncio)"
        return
    with tempfile.TemporaryDirectory() as site:
        Path(site, "item").write_bytes(b"x" * 100)
        with static_origin(Path(site), allow_fallback=False) as origin:
            yield origin.base, origin.label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--nginx", action="store_true", help="count against nginx (100 B file)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); skipped")
        return
    per_request: dict[str, float] = {}
    with _origin(args.nginx) as (base, label):
        for side in ("urllib3", "urllib3-timeouts", "netstack"):
            small = _instructions(side, base, args.small, args.workers)
            large = _instructions(side, base, args.large, args.workers)
            per_request[side] = (large - small) / (args.large - args.small)
    print(f"origin: {label}; requests {args.small} -> {args.large}, workers={args.workers}")
    for side, count in per_request.items():
        print(f"{side:17s} {count / 1000:8.1f} k instructions per request")
    ours, like, raw = (per_request[s] for s in ("netstack", "urllib3-timeouts", "urllib3"))
    print(f"ratio netstack / urllib3 with the same timeouts = {ours / like:.3f}")
    print(f"ratio netstack / urllib3 without timeouts       = {ours / raw:.3f}")
    print("(the CPU target, <= 0.80 without timeouts, is measured by bench_cpu.py)")


if __name__ == "__main__":
    main()
