"""The Redis queue's cost per request, and throughput with 1 and 2 worker processes.

Issues 9 and 18, Performance. One run, one origin for every part (nginx
serving a 213-byte file, ``benchmarks/nginx.py``; the asyncio origin, labelled
as such, when nginx is missing), a throwaway redis-server (no persistence):

1. per-request overhead, requests one at a time (submit, wait, next):
   latency (median, p90) and CPU per request of the in-memory Scheduler
   against ``Scheduler(queue=RedisQueue(...))`` with one ``netstack worker``
   process; for Redis the CPU is split into producer (this process),
   worker process and redis-server (from /proc);
2. throughput: N requests submitted at once (``submit_batch``), run by the
   in-process scheduler with T threads, then drained by 1, then 2 worker
   processes (``--workers T`` each), R rounds of the three, interleaved, and
   the in-process scheduler once more at the end: requests per second, each
   round's ratio to the mean of the in-process runs before and after it, the
   medians of those ratios, Redis commands per request (``INFO commandstats`` over every
   client, the commands run inside scripts included) and round trips per
   request (each client counts its own calls).

Both sides are treated alike: the same URL and request options, T threads
(``max_per_host`` 64 in-process, ``--per-host 64`` on the workers), 200
warm-up requests through the same scheduler before the clock starts, and
CPU per request of every process (this one, the workers, redis-server, the
origin) counted over the timed requests only, warm-up and start-up left out.

    PYTHONPATH=src:. python benchmarks/bench_redis.py \\
        [--sequential 300] [--batch 3000] [--threads 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import redis
from tests.distributed.servers import RedisServer, child_env, wait_idle, worker_command

from benchmarks.nginx import static_origin
from benchmarks.origin import BODY
from netstack import RedisQueue, Scheduler

#: Warm-up requests run before the clock starts, in-process and through Redis alike.
WARM_UP = 200


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_tree(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (nginx: the master and its worker)."""
    total = _cpu(pid)
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as children:
            total += sum(_cpu(int(child)) for child in children.read().split())
    return total


def _failed(futures: list[Future[Any]]) -> int:
    return sum(1 for f in futures if f.exception() is not None)


def _workers(url: str, name: str, count: int, threads: int) -> list[subprocess.Popen[bytes]]:
    processes = [
        subprocess.Popen(
            worker_command(url, name, "--workers", str(threads), "--per-host", "64"),
            env=child_env(),
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    wait_idle(url, name, count)
    return processes


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.communicate(timeout=30)


def _sequential(scheduler: Scheduler, url: str, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        scheduler.submit(url).result(timeout=30)
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def _summary(label: str, latencies: list[float], cpu: str) -> None:
    q = statistics.quantiles(latencies, n=10)
    print(
        f"  {label:<26} median {statistics.median(latencies):6.2f} ms   "
        f"p90 {q[8]:6.2f} ms   CPU/request {cpu}"
    )


def overhead(redis: RedisServer, origin: str, n: int) -> None:
    print(f"1. one request at a time, {n} requests (after 50 warm-up)")
    url = f"{origin}/"
    with Scheduler(max_workers=4) as memory:
        _sequential(memory, url, 50)
        cpu = time.process_time()
        latencies = _sequential(memory, url, n)
        cpu = (time.process_time() - cpu) / n * 1e6
    _summary("in-memory queue", latencies, f"{cpu:5.0f} us")

    assert redis.process is not None
    workers = _workers(redis.url, "bench-seq", 1, 4)
    try:
        queue = RedisQueue(redis.url, "bench-seq")
        with Scheduler(queue=queue) as remote:
            _sequential(remote, url, 50)
            own, worker, server = time.process_time(), _cpu(workers[0].pid), _cpu(redis.process.pid)
            latencies = _sequential(remote, url, n)
            own = (time.process_time() - own) / n * 1e6
            worker = (_cpu(workers[0].pid) - worker) / n * 1e6
            server = (_cpu(redis.process.pid) - server) / n * 1e6
    finally:
        _stop(workers)
    _summary(
        "Redis queue, 1 worker",
        latencies,
        f"{own + worker + server:5.0f} us (producer {own:.0f} + worker {worker:.0f} "
        f"+ redis-server {server:.0f}; /proc ticks are 10 ms)",
    )


def _commandstats(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, every client together."""
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if not name.startswith(("cmdstat_info", "cmdstat_config"))
    }


def _stop_counting(processes: list[subprocess.Popen[bytes]]) -> int:
    """SIGTERM workers; the Redis round trips they report on stderr."""
    total = 0
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        _, err = process.communicate(timeout=60)
        found = re.search(rb"(\d+) round trips", err)
        total += int(found.group(1)) if found else 0
    return total


def _in_process(url: str, n: int, threads: int, origin_pid: int) -> float:
    """Requests per second of the in-process scheduler with ``threads`` threads (printed)."""
    with Scheduler(max_workers=threads, max_per_host=64) as memory:
        wait(memory.submit_batch([url] * WARM_UP), timeout=60)
        own, origin = time.process_time(), _cpu_tree(origin_pid)
        start = time.perf_counter()
        futures = memory.submit_batch([url] * n)
        wait(futures, timeout=300)
        elapsed = time.perf_counter() - start
        own = (time.process_time() - own) / n * 1e6
        origin = (_cpu_tree(origin_pid) - origin) / n * 1e6
    print(
        f"{n / elapsed:7.0f} req/s   ({elapsed:.2f} s, {_failed(futures)} failed; "
        f"CPU us/request: this process {own:.0f}, origin {origin:.0f})"
    )
    return n / elapsed


def _through_redis(
    redis_server: RedisServer,
    client: redis.Redis,
    url: str,
    origin_pid: int,
    count: int,
    n: int,
    threads: int,
) -> float:
    """Requests per second through Redis with ``count`` worker processes (printed)."""
    name = f"bench-tp{count}-{time.monotonic_ns()}"
    workers = _workers(redis_server.url, name, count, threads)
    assert redis_server.process is not None
    try:
        queue = RedisQueue(redis_server.url, name)
        with Scheduler(queue=queue) as scheduler:
            wait(scheduler.submit_batch([url] * WARM_UP), timeout=60)
            client.config_resetstat()
            trips = queue._ops.round_trips
            server = _cpu(redis_server.process.pid)
            worker_cpu = sum(_cpu(w.pid) for w in workers)
            origin_cpu = _cpu_tree(origin_pid)
            own_cpu = time.process_time()
            start = time.perf_counter()
            futures = scheduler.submit_batch([url] * n)
            wait(futures, timeout=300)
            elapsed = time.perf_counter() - start
            own_cpu = (time.process_time() - own_cpu) / n * 1e6
            server = (_cpu(redis_server.process.pid) - server) / n * 1e6
            worker_cpu = (sum(_cpu(w.pid) for w in workers) - worker_cpu) / n * 1e6
            origin_cpu = (_cpu_tree(origin_pid) - origin_cpu) / n * 1e6
            commands = _commandstats(client)
            trips = queue._ops.round_trips - trips
            failed = _failed(futures)
    finally:
        worker_trips = _stop_counting(workers)
    total = sum(commands.values())
    top = ", ".join(
        f"{k} {v / n:.2f}" for k, v in sorted(commands.items(), key=lambda kv: -kv[1])[:8]
    )
    print(
        f"  {count} worker process{'es' if count > 1 else '  '}  {n / elapsed:7.0f} req/s"
        f"   ({elapsed:.2f} s, {failed} failed; CPU us/request: workers {worker_cpu:.0f}, "
        f"producer {own_cpu:.0f}, redis-server {server:.0f}, origin {origin_cpu:.0f})"
    )
    print(
        f"     Redis commands per request {total / n:.2f} (INFO commandstats, every client; {top})"
    )
    print(
        f"     round trips per request: producer {trips / n:.3f}, workers "
        f"{worker_trips / n:.3f} (whole worker life, warm-up and idle waits included)"
    )
    return n / elapsed


def throughput(
    redis_server: RedisServer, origin: str, origin_pid: int, n: int, threads: int, rounds: int
) -> None:
    print(
        f"2. throughput: {n} requests submitted at once (submit_batch), {threads} threads, "
        f"in-process scheduler against Redis queue with worker processes; {rounds} rounds, "
        "each in-process, 1 worker process, 2 worker processes, then in-process once more"
    )
    url = f"{origin}/"
    client = redis.Redis.from_url(redis_server.url)
    local: list[float] = []
    one: list[float] = []
    two: list[float] = []
    for round_ in range(1, rounds + 1):
        print(f" round {round_}")
        print("  in-process scheduler ", end="")
        local.append(_in_process(url, n, threads, origin_pid))
        one.append(_through_redis(redis_server, client, url, origin_pid, 1, n, threads))
        two.append(_through_redis(redis_server, client, url, origin_pid, 2, n, threads))
    print("  in-process scheduler ", end="")
    local.append(_in_process(url, n, threads, origin_pid))
    client.close()
    # each round against the mean of the in-process runs before and after it
    base = [(local[i] + local[i + 1]) / 2 for i in range(rounds)]
    ratio_one = [rate / b for rate, b in zip(one, base, strict=True)]
    ratio_two = [rate / b for rate, b in zip(two, base, strict=True)]
    print(
        f"  per round, against the in-process runs around it: 1 worker "
        f"{', '.join(f'x{r:.2f}' for r in ratio_one)}; 2 workers "
        f"{', '.join(f'x{r:.2f}' for r in ratio_two)}"
    )
    print(
        f"  medians: in-process {statistics.median(local):.0f} req/s; "
        f"1 worker process x{statistics.median(ratio_one):.2f} of in-process, "
        f"2 worker processes x{statistics.median(ratio_two):.2f}; scaling 1 -> 2 processes "
        f"x{statistics.median(t / o for t, o in zip(two, one, strict=True)):.2f} "
        f"on {os.cpu_count()} cores"
    )
    print("  (a shared machine: other processes compete for the cores; compare ratios, not rates)")


def _origin_pid(base: str) -> int:
    """The pid of the process listening on ``base``'s port (nginx's master, or the origin)."""
    port = int(base.rsplit(":", 1)[1])
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError(f"no process listens on {base}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--batch", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"command: PYTHONPATH=src:. {sys.executable} benchmarks/bench_redis.py "
        f"--sequential {args.sequential} --batch {args.batch} --threads {args.threads} "
        f"--rounds {args.rounds}"
    )
    redis = RedisServer()
    redis.start()
    try:
        with tempfile.TemporaryDirectory() as root:
            (Path(root) / "index.html").write_bytes(BODY)
            with static_origin(Path(root)) as origin:
                pid = _origin_pid(origin.base)
                print(f"origin: {origin.label}, GET / ({len(BODY)} bytes), pid {pid}")
                if args.sequential:
                    overhead(redis, origin.base, args.sequential)
                throughput(redis, origin.base, pid, args.batch, args.threads, args.rounds)
    finally:
        redis.close()


if __name__ == "__main__":
    main()
