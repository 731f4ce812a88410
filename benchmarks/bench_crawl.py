"""A crawler on netstack vs a hand-written asyncio + aiohttp crawler, CPU per page.

Both crawl the same generated link site (``--pages`` static pages of
``--links`` links each, served by nginx on loopback; without nginx, the
asyncio origin, and the output says FALLBACK) from page 0 until every page
was fetched once, at the same concurrency, following links found with the
same regular expression. Each crawl runs in its own process, pinned to the
client core (the server on another where there are two), and reports
``time.process_time()`` per page; rounds alternate the sides and the report
gives medians and the ratio.

- netstack: ``Scheduler(max_workers=C, max_per_host=C)``; a done-callback
  parses each page and submits the links not seen yet.
- aiohttp: C tasks sharing an ``asyncio.Queue`` and one ``ClientSession``
  (``TCPConnector(limit=C)``).

    python benchmarks/bench_crawl.py [--pages 20000] [--links 20] [--concurrency 16] [--rounds 3]

Target: netstack's CPU per page at most 1.75x aiohttp's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.nginx import pin_client, static_origin  # noqa: E402

#: How both crawlers find links.
LINK = re.compile(r'href="(/p/\d+\.html)"')


def build_site(root: Path, pages: int, links: int) -> None:
    """``pages`` pages under root/p/; page i links to i+1 (so all are reachable) and more."""
    (root / "p").mkdir(parents=True, exist_ok=True)
    for i in range(pages):
        targets = [(i + 1) % pages] + [
            (i * 7919 + k * 104729 + 13) % pages for k in range(links - 1)
        ]
        anchors = "\n".join(f'<li><a href="/p/{t}.html">page {t}</a></li>' for t in targets)
        (root / "p" / f"{i}.html").write_text(
            f"<!doctype html><title>page {i}</title><ul>\n{anchors}\n</ul>\n"
        )


# -- the crawlers (each runs in its own process) --------------------------------


def crawl_netstack(base: str, concurrency: int) -> int:
    import netstack

    seen = {"/p/0.html"}
    lock = threading.Lock()
    outstanding = [0]
    finished = threading.Event()
    errors: list[BaseException] = []

    with netstack.Scheduler(max_workers=concurrency, max_per_host=concurrency) as scheduler:

        def fetch(path: str) -> None:
            scheduler.submit(base + path).add_done_callback(parsed)

        def parsed(future: Future[Any]) -> None:
            try:
                found = LINK.findall(future.result().result)
            except BaseException as exc:
                errors.append(exc)
                found = []
            with lock:
                new = [path for path in found if path not in seen]
                seen.update(new)
                outstanding[0] += len(new) - 1
                done = outstanding[0] == 0
            for path in new:
                fetch(path)
            if done:
                finished.set()

        outstanding[0] = 1
        fetch("/p/0.html")
        finished.wait()
    if errors:
        raise RuntimeError(f"{len(errors)} pages failed, first: {errors[0]!r}")
    return len(seen)


def crawl_aiohttp(base: str, concurrency: int) -> int:
    import aiohttp

    async def main() -> int:
        seen = {"/p/0.html"}
        queue: asyncio.Queue[str] = asyncio.Queue()
        queue.put_nowait("/p/0.html")
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                while True:
                    path = await queue.get()
                    try:
                        async with session.get(base + path) as response:
                            text = await response.text()
                        for link in LINK.findall(text):
                            if link not in seen:
                                seen.add(link)
                                queue.put_nowait(link)
                    finally:
                        queue.task_done()

            tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
            await queue.join()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(seen)

    return asyncio.run(main())


CRAWLERS = {"netstack": crawl_netstack, "aiohttp": crawl_aiohttp}


def _one(side: str, base: str, concurrency: int) -> None:
    """Crawl once in this process; print JSON figures."""
    pin_client()
    cpu, wall = time.process_time(), time.perf_counter()
    pages = CRAWLERS[side](base, concurrency)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"pages": pages, "cpu": cpu, "wall": wall}))


def _run(side: str, base: str, concurrency: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [sys.executable, __file__, "--one", side, "--base", base]
    command += ["--concurrency", str(concurrency)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env=env, timeout=3600
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--links", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=sorted(CRAWLERS), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one, args.base, args.concurrency)
        return
    pinning = pin_client()
    results: dict[str, list[dict[str, float]]] = {side: [] for side in CRAWLERS}
    with tempfile.TemporaryDirectory() as site:
        build_site(Path(site), args.pages, args.links)
        with static_origin(Path(site)) as origin:
            sides = list(CRAWLERS)
            for number in range(args.rounds):
                for side in sides[number % 2 :] + sides[: number % 2]:
                    figures = _run(side, origin.base, args.concurrency)
                    if figures["pages"] != args.pages:
                        raise RuntimeError(f"{side} crawled {figures['pages']} pages")
                    results[side].append(figures)
    print(f"command: python benchmarks/bench_crawl.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"origin: {origin.label}; {pinning}")
    print(
        f"site: {args.pages} pages x {args.links} links; concurrency {args.concurrency}; "
        f"medians of {args.rounds} crawls each, sides alternating, one process per crawl"
    )
    per_page = {}
    for side, runs in results.items():
        per_page[side] = statistics.median(r["cpu"] / r["pages"] for r in runs)
        pages_s = statistics.median(r["pages"] / r["wall"] for r in runs)
        spread = ", ".join(f"{r['cpu'] / r['pages'] * 1e6:.0f}" for r in runs)
        print(
            f"{side:10s} median {per_page[side] * 1e6:7.1f} us CPU/page "
            f"{pages_s:9,.0f} pages/s  [CPU: {spread}]"
        )
    ratio = per_page["netstack"] / per_page["aiohttp"]
    print(f"ratio netstack / aiohttp CPU per page = {ratio:.3f}  (target <= 1.75)")


if __name__ == "__main__":
    main()
