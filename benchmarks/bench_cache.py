"""The response cache: flush and load of a full cache, and the cost of a fresh hit vs peers.

    python benchmarks/bench_cache.py [--hits 1000] [--rounds 7] [--dir DIR]

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

Needs the ``bench`` extra: requests, requests-cache, CacheControl, hishel, httpx.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import netstack
from netstack.cache import FileStorage, HttpResponseCache
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
        cache.complete(cache.lookup("GET", url, {}, now), 200, headers, body, now, now)
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


# -- report --------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=1000, help="hits per side per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=default_directory().parent)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)

    disk = flush_and_load(args.dir, args.rounds)
    costs = hit_costs(args.hits, args.rounds)

    entries, size = disk["entries"], disk["bytes"]
    assert isinstance(entries, int)
    assert isinstance(size, int)
    print(f"`{COMMAND}`\n")
    print(f"Flush and load of a full cache: {entries} entries of {ENTRY_BODY // 1024} KiB, ")
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
