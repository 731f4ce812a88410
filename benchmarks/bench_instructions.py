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

    python benchmarks/bench_instructions.py [--small 100] [--large 300] [--workers 8]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=300)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); skipped")
        return
    per_request: dict[str, float] = {}
    with running_origin() as base:
        for side in ("urllib3", "urllib3-timeouts", "netstack"):
            small = _instructions(side, base, args.small, args.workers)
            large = _instructions(side, base, args.large, args.workers)
            per_request[side] = (large - small) / (args.large - args.small)
    print(f"requests {args.small} -> {args.large}, workers={args.workers}")
    for side, count in per_request.items():
        print(f"{side:17s} {count / 1000:8.1f} k instructions per request")
    ours, like, raw = (per_request[s] for s in ("netstack", "urllib3-timeouts", "urllib3"))
    print(f"ratio netstack / urllib3 with the same timeouts = {ours / like:.3f}")
    print(f"ratio netstack / urllib3 without timeouts       = {ours / raw:.3f}")
    print("(target <= 1.10)")


if __name__ == "__main__":
    main()
