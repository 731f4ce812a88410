"""The response cache: flush and load, a fresh hit vs peers, single flight, stale-while-revalidate.

    python benchmarks/bench_cache.py [--hits 1000] [--rounds 7] [--dir DIR]
                                     [--only disk,hits,hishel,burst,swr] [--instructions]

Part 1 fills a 10 MiB ``HttpResponseCache`` with 10 KiB entries, times
``flush()`` into an empty directory, then times creating a new cache that
loads it (the median of ``--rounds``, a new directory each round). The
directories are made under ``--dir``, by default the user's cache root
(``$XDG_CACHE_HOME`` or ``~/.cache``), where a real cache lives.

Part 2 times a fresh cache hit, single thread, the same cacheable URL, for
netstack (``create_http(scheduler).request(url).result()`` with a
``Scheduler(cache=HttpResponseCache(...))``) and for requests-cache (SQLite
and memory backends), CacheControl (requests + CacheControl) and hishel
(httpx, sync, SQLite, RFC 9111 mode). All ask one loopback origin that answers
``Cache-Control: max-age=3600`` and counts requests: each side is primed
with one request, and the origin must see no other. Rounds alternate between
the sides so machine noise hits all alike; the table gives the median of the
rounds, in microseconds per hit, and each peer's cost relative to netstack's.

Part 3 (``hishel``) puts netstack's hit next to hishel 2's alone, the
minimum of ``--rounds`` rounds each (on a shared machine the minimum is the
least disturbed); with ``--instructions`` it also counts the instructions
per hit of each side under valgrind's callgrind (two runs per side, 200 and
1200 hits, the difference divided by 1000: start-up cancels out), which the
machine's load does not change. The target: netstack's hit at most 1/20 of
hishel's.

Part 4 (``burst``) sends 100 identical cacheable GETs at once to an origin
that takes 200 ms, with single-flight coalescing on and off, and reports the
origin's requests and the wall time until every future is done.

Part 5 (``swr``) primes a response with ``max-age=0,
stale-while-revalidate=60`` from an origin that then takes 200 ms, and times
20 requests inside the window (each answered stale at once), counting the
background revalidations the origin saw (one).

Needs the ``bench`` extra: requests, requests-cache, CacheControl, hishel, httpx.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import netstack
from netstack.cache import FileStorage, HttpResponseCache, driver_of
from netstack.cache.cache import DEFAULT_CACHE_SIZE, default_directory

COMMAND = "python benchmarks/bench_cache.py"
ENTRY_BODY = 10 * 1024
BODY = b'{"ok": true, "padding": "' + b"x" * 200 + b'"}'

# -- part 1: flush and load ----------------------------------------------------


def _full_cache(directory: Path) -> HttpResponseCache:
    """A cache at ``directory`` holding as many 10 KiB entries as 10 MiB allows."""
    storage = FileStorage(directory, max_bytes=2 * DEFAULT_CACHE_SIZE)
    cache = HttpResponseCache(DEFAULT_CACHE_SIZE, storage=storage)
    now = time.time()
    headers = [("Cache-Control", "max-age=3600"), ("Content-Type", "application/octet-stream")]
    body = b"x" * ENTRY_BODY
    index = 0
    while True:
        url = f"https://bench.test/item/{index}"
        driver_of(cache).complete(
            driver_of(cache).lookup("GET", url, {}, now), 200, headers, body, now, now
        )
        if len(cache) <= index:  # the last one pushed out the oldest: the cache is full
            return cache
        index += 1


def _create_files(directory: Path, count: int) -> float:
    """Seconds to create ``count`` empty files: the file system's floor for one flush."""
    directory.mkdir()
    start = time.perf_counter()
    for index in range(count):
        os.close(os.open(directory / f"{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return time.perf_counter() - start


def flush_and_load(root: Path, rounds: int) -> dict[str, list[float] | int]:
    """Seconds per flush, per load and per bare file creation, a new directory each round."""
    flushes: list[float] = []
    loads: list[float] = []
    floors: list[float] = []
    entries = size = 0
    # Every round's files stay until the end: a file system without a journal
    # (ext4 without one, as on some VMs) skips inodes freed in the last ~30 s
    # when it allocates new ones, so deleting between rounds would slow the next.
    directory = Path(tempfile.mkdtemp(prefix="netstack-bench-", dir=root))
    try:
        for round_ in range(rounds):
            cache = _full_cache(directory / f"cache-{round_}")
            entries, size = len(cache), cache.stats().bytes
            start = time.perf_counter()
            cache.flush().result()
            flushes.append(time.perf_counter() - start)
            start = time.perf_counter()
            # The directory's own bound counts file bytes (metadata too): give it room.
            storage = FileStorage(directory / f"cache-{round_}", max_bytes=2 * DEFAULT_CACHE_SIZE)
            loaded = HttpResponseCache(DEFAULT_CACHE_SIZE, storage=storage)
            loads.append(time.perf_counter() - start)
            assert len(loaded) == entries, (len(loaded), entries)
            floors.append(_create_files(directory / f"floor-{round_}", entries))
    finally:
        shutil.rmtree(directory)
    return {"flush": flushes, "load": loads, "floor": floors, "entries": entries, "bytes": size}


# -- part 2: a fresh hit, netstack vs peers ------------------------------------


class _Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(200)
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def running_origin() -> Iterator[str]:
    """A loopback origin in a thread (hits never reach it); yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


Hit = Callable[[], bytes]


def _netstack(url: str, workdir: Path, stack: contextlib.ExitStack) -> Hit:
    cache = HttpResponseCache(directory=workdir / "netstack")
    scheduler = stack.enter_context(netstack.Scheduler(cache=cache, name="bench-cache"))

    def hit() -> bytes:
        response = netstack.create_http(scheduler).request(url).result()
        assert isinstance(response, netstack.HttpResponse)
        return response.result.encode() if isinstance(response.result, str) else b"?"

    return hit


def _requests_cache(backend: str) -> Callable[[str, Path, contextlib.ExitStack], Hit]:
    def make(url: str, workdir: Path, stack: contextlib.ExitStack) -> Hit:
        import requests_cache  # an optional peer

        session = requests_cache.CachedSession(
            str(workdir / f"requests-cache-{backend}"), backend=backend, cache_control=True
        )
        stack.callback(session.close)
        return lambda: session.get(url).content

    return make


def _cachecontrol(url: str, workdir: Path, stack: contextlib.ExitStack) -> Hit:
    import requests  # an optional peer
    from cachecontrol import CacheControl

    session = CacheControl(requests.Session())
    stack.callback(session.close)
    return lambda: session.get(url).content


def _hishel(url: str, workdir: Path, stack: contextlib.ExitStack) -> Hit:
    import hishel  # an optional peer
    from hishel.httpx import CacheClient

    storage = hishel.SqliteStorage(database_path=str(workdir / "hishel.db"))
    client = stack.enter_context(CacheClient(storage=storage, rfc=True))
    return lambda: client.get(url).content


SIDES: dict[str, Callable[[str, Path, contextlib.ExitStack], Hit]] = {
    "netstack request()": _netstack,
    "requests-cache (SQLite)": _requests_cache("sqlite"),
    "requests-cache (memory)": _requests_cache("memory"),
    "CacheControl (requests)": _cachecontrol,
    "hishel (httpx, sync, SQLite)": _hishel,
}


def _per_hit(hit: Hit, hits: int) -> float:
    start = time.perf_counter()
    for _ in range(hits):
        hit()
    return (time.perf_counter() - start) / hits


def hit_costs(hits: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per fresh hit for every side, one value per round."""
    results: dict[str, list[float]] = {name: [] for name in SIDES}
    with (
        running_origin() as base,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
    ):
        url = f"{base}/item"
        clients: dict[str, Hit] = {}
        for name, make in SIDES.items():
            clients[name] = hit = make(url, Path(tmp), stack)
            before = _Origin.requests
            first = hit()  # primes the cache: the origin's one request from this side
            assert hit() == first == BODY, name
            assert _Origin.requests == before + 1, f"{name} did not cache the response"
        asked = _Origin.requests
        for _ in range(rounds):
            for name, hit in clients.items():
                results[name].append(_per_hit(hit, hits))
        assert _Origin.requests == asked, "a hit reached the origin"
    return results


# -- part 3: netstack vs hishel, minimum of rounds and instructions ------------

_COLLECTED = re.compile(r"Collected : (\d+)")


def _run_side(side: str, hits: int) -> None:
    """``--side NAME N``: prime, then ``hits`` hits (what callgrind counts)."""
    with (
        running_origin() as base,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
    ):
        hit = SIDES[side](f"{base}/item", Path(tmp), stack)
        for _ in range(20):
            hit()
        for _ in range(hits):
            hit()


def _instructions(side: str, hits: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--side", side, str(hits)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = _COLLECTED.search(done.stderr)
    assert found is not None, done.stderr[-500:]
    return int(found.group(1))


def per_hit_instructions(side: str, small: int = 200, large: int = 1200) -> float:
    """Instructions per hit: the difference of two runs, start-up cancelled out."""
    return (_instructions(side, large) - _instructions(side, small)) / (large - small)


NETSTACK = "netstack request()"
HISHEL = "hishel (httpx, sync, SQLite)"


def versus_hishel(hits: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per hit, netstack and hishel alternating, one value per round each."""
    results: dict[str, list[float]] = {NETSTACK: [], HISHEL: []}
    with (
        running_origin() as base,
        tempfile.TemporaryDirectory() as tmp,
        contextlib.ExitStack() as stack,
    ):
        sides = {name: SIDES[name](f"{base}/item", Path(tmp), stack) for name in results}
        for hit in sides.values():
            hit()
        for _ in range(rounds):
            for name, hit in sides.items():
                results[name].append(_per_hit(hit, hits if name == NETSTACK else hits // 4))
    return results


# -- part 4: a burst of identical misses, single flight on and off -------------


class _SlowOrigin(BaseHTTPRequestHandler):
    """Answers after ``delay`` seconds; ``max-age`` or an SWR directive per path."""

    protocol_version = "HTTP/1.1"
    delay = 0.2
    requests: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.requests[self.path] = self.requests.get(self.path, 0) + 1
            first = self.requests[self.path] == 1
        swr = self.path.startswith("/swr")
        if not (swr and first):
            time.sleep(self.delay)
        if swr and self.headers.get("If-None-Match") == '"1"':
            self.send_response(304)
            self.send_header("ETag", '"1"')
            self.send_header("Cache-Control", "max-age=0, stale-while-revalidate=60")
            self.end_headers()
            return
        self.send_response(200)
        cc = "max-age=0, stale-while-revalidate=60" if swr else "max-age=3600"
        self.send_header("Cache-Control", cc)
        self.send_header("ETag", '"1"')
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def slow_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowOrigin)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def burst(coalescing: bool, count: int = 100) -> tuple[int, float]:
    """(origin requests, seconds) for ``count`` identical concurrent misses."""
    from netstack import coalesce
    from netstack.cache import MemoryStorage

    coalesce.ENABLED = coalescing
    path = f"/burst-{coalescing}-{time.monotonic_ns()}"
    try:
        with slow_origin() as base:
            cache = HttpResponseCache(storage=MemoryStorage())
            with netstack.Scheduler(max_workers=32, max_per_host=32, cache=cache) as scheduler:
                start = time.perf_counter()
                futures = [scheduler.submit(base + path) for _ in range(count)]
                wait(futures, timeout=120)
                elapsed = time.perf_counter() - start
                assert all(f.result().response_code == 200 for f in futures)
    finally:
        coalesce.ENABLED = True
    return _SlowOrigin.requests[path], elapsed


# -- part 5: stale-while-revalidate inside the window --------------------------


def swr_latency(count: int = 20) -> tuple[list[float], int]:
    """Seconds per request answered stale, and the revalidations the origin saw."""
    from netstack.cache import MemoryStorage

    path = f"/swr-{time.monotonic_ns()}"
    latencies: list[float] = []
    with slow_origin() as base:
        cache = HttpResponseCache(storage=MemoryStorage())
        with netstack.Scheduler(cache=cache) as scheduler:
            scheduler.submit(base + path).result(timeout=30)  # primed, at once
            for _ in range(count):
                start = time.perf_counter()
                response = scheduler.submit(base + path).result(timeout=30)
                latencies.append(time.perf_counter() - start)
                assert response.from_cache
            time.sleep(_SlowOrigin.delay * 3)  # the background revalidation ends
    return latencies, _SlowOrigin.requests[path] - 1


# -- report --------------------------------------------------------------------

PARTS = ("disk", "hits", "hishel", "burst", "swr")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--side":  # one side under callgrind
        _run_side(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=1000, help="hits per side per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=default_directory().parent)
    parser.add_argument("--only", default=",".join(PARTS), help="parts to run: " + ",".join(PARTS))
    parser.add_argument("--instructions", action="store_true", help="count with callgrind too")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"`{COMMAND} --only {args.only}{' --instructions' if args.instructions else ''}`\n")
    if "hishel" in parts:
        _report_hishel(args.hits, args.rounds, args.instructions)
    if "burst" in parts:
        print("\n100 identical concurrent cacheable misses, origin 200 ms, 32 workers:\n")
        print("| coalescing | origin requests | wall time |")
        print("|---|---:|---:|")
        for coalescing in (True, False):
            asked, seconds = burst(coalescing)
            print(f"| {'on' if coalescing else 'off'} | {asked} | {seconds * 1e3:.0f} ms |")
    if "swr" in parts:
        latencies, revalidations = swr_latency()
        print(
            f"\nstale-while-revalidate, origin 200 ms: {len(latencies)} requests in the window, "
            f"median {statistics.median(latencies) * 1e3:.2f} ms, "
            f"max {max(latencies) * 1e3:.2f} ms; background revalidations: {revalidations}"
        )
    if "disk" in parts or "hits" in parts:
        _report_disk_and_hits(args, parts)


def _report_hishel(hits: int, rounds: int, instructions: bool) -> None:
    costs = versus_hishel(hits, rounds)
    ours, theirs = min(costs[NETSTACK]), min(costs[HISHEL])
    print(f"A fresh hit, netstack vs hishel 2, minimum of {rounds} rounds (shared machine):\n")
    print("| client | min us/hit | median us/hit |")
    print("|---|---:|---:|")
    for name, values in costs.items():
        print(f"| {name} | {min(values) * 1e6:.1f} | {statistics.median(values) * 1e6:.1f} |")
    print(f"\nhishel / netstack = {theirs / ours:.1f} (target >= 20)")
    if instructions and shutil.which("valgrind"):
        counted = {name: per_hit_instructions(name) for name in (NETSTACK, HISHEL)}
        for name, value in counted.items():
            print(f"- {name}: {value / 1e3:.1f} k instructions per hit")
        print(f"- hishel / netstack in instructions = {counted[HISHEL] / counted[NETSTACK]:.1f}")


def _report_disk_and_hits(args: argparse.Namespace, parts: set[str]) -> None:
    if "disk" not in parts or "hits" not in parts:
        print("\n(disk and hits run together: --only disk,hits)")
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    disk = flush_and_load(args.dir, args.rounds)
    costs = hit_costs(args.hits, args.rounds)

    entries, size = disk["entries"], disk["bytes"]
    assert isinstance(entries, int)
    assert isinstance(size, int)
    print(f"\nFlush and load of a full cache: {entries} entries of {ENTRY_BODY // 1024} KiB, ")
    print(f"{size / 2**20:.2f} MiB, in {args.dir}; median of {args.rounds} rounds.\n")
    print("| operation | median | target | rounds (ms) |")
    print("|---|---:|---:|---|")
    rows = (
        ("flush()", disk["flush"], "< 1000 ms"),
        ("load at creation", disk["load"], "< 500 ms"),
        (f"floor: create {entries} empty files there", disk["floor"], ""),
    )
    for name, values, target in rows:
        assert isinstance(values, list)
        spread = ", ".join(f"{v * 1e3:.0f}" for v in values)
        print(f"| {name} | {statistics.median(values) * 1e3:.0f} ms | {target} | {spread} |")

    medians = {name: statistics.median(values) for name, values in costs.items()}
    ours = medians["netstack request()"]
    print(f"\nA fresh hit, single thread, one URL; {args.hits} hits x {args.rounds} rounds.\n")
    print("| client | median us/hit | x netstack | rounds (us) |")
    print("|---|---:|---:|---|")
    for name, median in medians.items():
        spread = ", ".join(f"{v * 1e6:.0f}" for v in costs[name])
        print(f"| {name} | {median * 1e6:.1f} | {median / ours:.1f} | {spread} |")
    fastest_peer = min(v for k, v in medians.items() if k != "netstack request()")
    sqlite = medians["requests-cache (SQLite)"]
    print(
        f"\nnetstack below every peer: {'yes' if ours < fastest_peer else 'NO'}; "
        f"requests-cache (SQLite) / netstack = {sqlite / ours:.1f} (target >= 10)"
    )


if __name__ == "__main__":
    main()
