"""The soak itself, run in a fresh process so threads, descriptors and RSS are its own.

``python tests/soak/soak_run.py REQUESTS`` prints one JSON object of figures
and counts; ``test_soak.py`` asserts on it. Two threads submit REQUESTS in
all over HOSTS loopback hosts with random priorities, re-prioritise and
cancel at random; FAULT_RATE of the URLs are faults (reset, 500, slow past
the read timeout).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import netstack
from netstack import HttpError, RequestFuture, Scheduler

HOSTS = 20
FAULT_RATE = 0.10
FAULTS = ("reset", "500", "slow")
READ_TIMEOUT_MS = 300  # the origin's slow answers come after 600 ms
SET_PRIORITY_RATE = 0.05
CANCEL_RATE = 0.03
WAIT_SECONDS = 150


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _trimmed_rss() -> int:
    """RSS after a full collection and, on glibc, ``malloc_trim``: freed heap handed back,
    so the figure follows live memory rather than the allocator's high-water mark."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _rss()


def _descriptors() -> tuple[int, int]:
    """(open descriptors, of which sockets) of this process."""
    fds = sockets = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listdir descriptor itself, already closed
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def _start_origin(directory: str) -> tuple[subprocess.Popen[bytes], list[tuple[str, int]]]:
    port_file = os.path.join(directory, "ports.json")
    origin = Path(__file__).with_name("soak_origin.py")
    process = subprocess.Popen(
        [sys.executable, str(origin), port_file, str(HOSTS)], stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while not os.path.exists(port_file):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the soak origin did not start")
        time.sleep(0.02)
    pairs = json.loads(Path(port_file).read_text())
    return process, [(host, int(port)) for host, port in pairs]


def _urls(total: int, hosts: list[tuple[str, int]], seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    urls = []
    for i in range(total):
        host, port = hosts[rng.randrange(len(hosts))]
        kind = rng.choice(FAULTS) if rng.random() < FAULT_RATE else "ok"
        urls.append((kind, f"http://{host}:{port}/{kind}/{i}"))
    return urls


def _submitter(
    tid: int,
    scheduler: Scheduler,
    work: list[tuple[str, str]],
    out: list[tuple[str, RequestFuture]],
    callbacks: Counter[int],
    lock: threading.Lock,
) -> None:
    rng = random.Random(1000 + tid)
    mine: list[RequestFuture] = []
    for i, (kind, url) in enumerate(work):
        options = {"priority": rng.randint(1, 1000), "readTimeout": READ_TIMEOUT_MS}
        if tid == 0:  # the seed's way: one HttpRequest per request, with a callback
            key = i

            def callback(err: Any, data: Any, key: int = key) -> None:
                with lock:
                    callbacks[key] += 1

            future = netstack.create_http(scheduler).request(url, options, callback)
        else:
            future = scheduler.submit(url, options)
        mine.append(future)
        out.append((kind, future))
        roll = rng.random()
        if roll < SET_PRIORITY_RATE:
            rng.choice(mine).set_priority(rng.randint(1, 1000))
        elif roll < SET_PRIORITY_RATE + CANCEL_RATE:
            rng.choice(mine).cancel()


def _run(scheduler: Scheduler, urls: list[tuple[str, str]]) -> dict[str, Any]:
    halves = [urls[0::2], urls[1::2]]
    outs: list[list[tuple[str, RequestFuture]]] = [[], []]
    callbacks: Counter[int] = Counter()
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=_submitter, args=(tid, scheduler, halves[tid], outs[tid], callbacks, lock)
        )
        for tid in (0, 1)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    submitted_in = time.perf_counter() - started
    futures: list[Future[Any]] = [f for out in outs for _, f in out]
    _, not_done = wait(futures, timeout=WAIT_SECONDS)
    duration = time.perf_counter() - started
    outcomes: Counter[str] = Counter()
    unexpected: list[str] = []
    for kind, future in (pair for out in outs for pair in out):
        if not future.done():
            continue
        if future.cancelled():
            outcomes["cancelled"] += 1
            continue
        error = future.exception()
        if error is not None:
            outcomes["failed"] += 1
            outcomes[f"{kind}:{getattr(error, 'code', type(error).__name__)}"] += 1
            if not isinstance(error, HttpError) or kind in ("ok", "500"):
                unexpected.append(f"{kind}: {error!r}")
        else:
            outcomes["completed"] += 1
            code = future.result().response_code
            outcomes[f"{kind}:{code}"] += 1
            if (kind, code) not in (("ok", 200), ("500", 500), ("slow", 200)):
                unexpected.append(f"{kind}: HTTP {code}")
    time.sleep(0.2)  # callbacks run on workers right after the futures resolve
    with lock:
        wrong_callbacks = [k for k in range(len(halves[0])) if callbacks[k] != 1]
    return {
        "requests": len(urls),
        "not_done": len(not_done),
        "duration_s": round(duration, 2),
        "submit_s": round(submitted_in, 2),
        "req_per_s": round(len(urls) / duration, 1),
        "outcomes": dict(outcomes),
        "unexpected": unexpected[:20],
        "unexpected_count": len(unexpected),
        "wrong_callbacks": len(wrong_callbacks),
    }


def main(total: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        origin, hosts = _start_origin(directory)
        warmup_rss = _trimmed_rss()
        try:
            # Warm up imports, lazy tables and the allocator's arenas with a soak of the same
            # size and shape; then take the baseline. Most of the queue is waiting at the peak,
            # and the allocator keeps the arenas of that peak: a smaller warm-up leaves the
            # measured run a higher peak to reach (5,000 then 20,000 grew 12-29 MiB with no
            # object left behind), so growth after an equal warm-up means a leak.
            warm = Scheduler(max_workers=32, max_per_host=8, name="warmup")
            warmup = _run(warm, _urls(total, hosts, seed=1))
            warm.shutdown(wait=True)
            rss_fresh = warmup_rss
            del warm
            rss_before = _trimmed_rss()
            objects_before = len(gc.get_objects())
            blocks_before = sys.getallocatedblocks()
            threads_before = threading.active_count()
            fds_before, sockets_before = _descriptors()

            scheduler = Scheduler(max_workers=32, max_per_host=8, name="soak")
            figures = _run(scheduler, _urls(total, hosts, seed=2))
            stats = scheduler.stats()
            scheduler.shutdown(wait=True)
            del scheduler
            time.sleep(0.2)
            rss_after = _trimmed_rss()
            objects_after = len(gc.get_objects())
            blocks_after = sys.getallocatedblocks()
            threads_after = threading.active_count()
            fds_after, sockets_after = _descriptors()
        finally:
            origin.kill()
            origin.wait(10)
    figures.update(
        stats={
            k: getattr(stats, k)
            for k in (
                "submitted",
                "queued",
                "running",
                "completed",
                "failed",
                "cancelled",
                "cache_hits",
            )
        },
        threads=[threads_before, threads_after],
        fds=[fds_before, fds_after],
        sockets=[sockets_before, sockets_after],
        rss_mib=[round(rss_before / 2**20, 1), round(rss_after / 2**20, 1)],
        rss_fresh_mib=round(rss_fresh / 2**20, 1),
        warmup={"requests": warmup["requests"], "unexpected": warmup["unexpected_count"]},
        gc_objects=[objects_before, objects_after],
        allocated_blocks=[blocks_before, blocks_after],
        cpus=os.cpu_count(),
    )
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
