"""The clients ``benchmarks/run.py`` compares, each driven the same way.

Every client keeps exactly ``concurrency`` requests in flight (a closed loop:
a new request starts when one ends) against the same URL, so all pay the
same queueing and the latency of a request is the time from its start to
its end. Thread-based clients run behind one windowed driver; aiohttp runs
the same window as asyncio tasks.

Each :class:`Client` opens its pools once, is warmed up (so connections
exist), then measured; ``close()`` releases everything.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import netstack


def drive(submit: Callable[[], Future[Any]], requests: int, window: int) -> list[float]:
    """Run ``requests`` submissions, ``window`` in flight; each one's latency in seconds."""
    latencies = [0.0] * requests
    slots = threading.Semaphore(window)
    finished = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()
    remaining = [requests]

    def done(future: Future[Any], index: int, started: float) -> None:
        latencies[index] = time.perf_counter() - started
        error = future.exception()
        if error is not None:
            errors.append(error)
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                finished.set()
        slots.release()

    for index in range(requests):
        slots.acquire()
        started = time.perf_counter()
        future = submit()
        future.add_done_callback(lambda f, i=index, s=started: done(f, i, s))
    finished.wait()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]!r}")
    return latencies


class Client:
    """One peer: ``open``, ``run`` (measured or warm-up), ``close``."""

    name = "?"

    def open(self, url: str, concurrency: int) -> None:
        self.url, self.concurrency = url, concurrency

    def submit(self) -> Future[Any]:
        raise NotImplementedError

    def run(self, requests: int) -> list[float]:
        return drive(self.submit, requests, self.concurrency)

    def close(self) -> None:
        pass


class Netstack(Client):
    name = "netstack"

    def open(self, url: str, concurrency: int) -> None:
        super().open(url, concurrency)
        self.scheduler = netstack.Scheduler(max_workers=concurrency, max_per_host=concurrency)

    def submit(self) -> Future[Any]:
        return self.scheduler.submit(self.url)

    def close(self) -> None:
        self.scheduler.shutdown(wait=True)


class _Threaded(Client):
    """A blocking client on a ThreadPoolExecutor of ``concurrency`` threads."""

    def open(self, url: str, concurrency: int) -> None:
        super().open(url, concurrency)
        self.executor = ThreadPoolExecutor(max_workers=concurrency)

    def fetch(self) -> bytes:
        raise NotImplementedError

    def submit(self) -> Future[Any]:
        return self.executor.submit(self.fetch)

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class Urllib3(_Threaded):
    name = "urllib3 + ThreadPoolExecutor"

    def open(self, url: str, concurrency: int) -> None:
        import urllib3

        super().open(url, concurrency)
        self.pool = urllib3.PoolManager(
            maxsize=concurrency, retries=False, timeout=self._timeout(urllib3)
        )

    @staticmethod
    def _timeout(urllib3: Any) -> Any:
        return urllib3.Timeout.DEFAULT_TIMEOUT  # urllib3's default: no timeout

    def fetch(self) -> bytes:
        response = self.pool.request("GET", self.url)
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        return response.data

    def close(self) -> None:
        super().close()
        self.pool.clear()


class Httpx(_Threaded):
    name = "httpx (sync, threads)"

    def open(self, url: str, concurrency: int) -> None:
        import httpx

        super().open(url, concurrency)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.Client(limits=limits)

    def fetch(self) -> bytes:
        return self.client.get(self.url).raise_for_status().content

    def close(self) -> None:
        super().close()
        self.client.close()


class RequestsFutures(Client):
    name = "requests-futures"

    def open(self, url: str, concurrency: int) -> None:
        import requests
        from requests.adapters import HTTPAdapter
        from requests_futures.sessions import FuturesSession

        super().open(url, concurrency)
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency)
        session.mount("http://", adapter)
        self.session = FuturesSession(max_workers=concurrency, session=session)

    def submit(self) -> Future[Any]:
        return self.session.get(self.url)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.session.close()


class Aiohttp(Client):
    name = "aiohttp"

    def open(self, url: str, concurrency: int) -> None:
        import aiohttp

        super().open(url, concurrency)
        self.loop = asyncio.new_event_loop()

        async def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

        self.session = self.loop.run_until_complete(session())

    async def _run(self, requests: int) -> list[float]:
        latencies = [0.0] * requests
        slots = asyncio.Semaphore(self.concurrency)

        async def one(index: int) -> None:
            started = time.perf_counter()
            try:
                async with self.session.get(self.url) as response:
                    response.raise_for_status()
                    await response.read()
            finally:
                latencies[index] = time.perf_counter() - started
                slots.release()

        tasks = []
        for index in range(requests):
            await slots.acquire()
            tasks.append(asyncio.ensure_future(one(index)))
        await asyncio.gather(*tasks)
        return latencies

    def run(self, requests: int) -> list[float]:
        return self.loop.run_until_complete(self._run(requests))

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.close()


class Urllib3Timeouts(Urllib3):
    """urllib3 doing exactly netstack's work: its default 60 s connect and read timeouts.

    A socket with a timeout makes CPython poll before every send and recv and
    release the GIL twice; that CPU belongs to the timeouts, which netstack
    always has (@ohos.net.http's defaults), so this is the like-for-like peer.
    """

    name = "urllib3 + ThreadPoolExecutor, 60 s timeouts"

    @staticmethod
    def _timeout(urllib3: Any) -> Any:
        return urllib3.Timeout(connect=60.0, read=60.0)


#: The peers, netstack first (ratios are relative to it).
CLIENTS: tuple[type[Client], ...] = (
    Netstack,
    Urllib3,
    Urllib3Timeouts,
    RequestsFutures,
    Httpx,
    Aiohttp,
)
