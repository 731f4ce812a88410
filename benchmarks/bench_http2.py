"""HTTP/2: netstack multiplexed against httpx[http2], same origin, same concurrency.

The origin is nginx with ``listen ... ssl; http2 on;`` (``listen ... ssl http2``
before nginx 1.25.1) and a trustme
certificate (in its own process, one worker) when nginx is installed
(``apt-get install nginx``, or your platform's package), else hypercorn in a
subprocess; either way it answers every request with the same 100 bytes.
nginx logs the connection serial number of every request, so the report
says how many connections each client really opened (counted server-side).

Each client keeps ``--concurrency`` requests in flight (a closed loop) for
``--requests`` requests, after a warm-up; rounds are interleaved (netstack,
httpx sync, httpx async, netstack, ...) and the medians reported:
requests per second and client CPU milliseconds per request (the whole
process: worker threads, netstack's HTTP/2 reader threads, the event loop).
Failed requests are counted, not fatal: httpx's sync client shares an HTTP/2
connection between threads and loses some requests doing so (``RuntimeError:
dictionary changed size during iteration``, ``ConnectionTerminated``).

- netstack: ``Scheduler(max_workers=C, max_per_host=C)``, ``using_protocol=HTTP2``;
- httpx (sync, threads): ``httpx.Client(http2=True)`` on ``C`` threads;
- httpx (async): ``httpx.AsyncClient(http2=True)``, ``C`` tasks.

    python benchmarks/bench_http2.py [--requests 5000] [--concurrency 50] [--rounds 3]

Wall-clock figures depend on what else the machine runs: quote them with
the machine's load and compare only figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

import netstack

BODY = b'{"ok":true,"pad":"' + b"x" * 80 + b'"}'


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, timeout: float = 10) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the origin did not listen on port {port}")


@dataclass
class Origin:
    url: str
    ca_file: str
    label: str
    #: The access log of connection serial numbers (nginx only), else None.
    log: Path | None = None

    def connections_since(self, offset: int) -> int | None:
        """Distinct connections in the log after ``offset`` bytes (None without a log)."""
        if self.log is None:
            return None
        with self.log.open("rb") as f:
            f.seek(offset)
            return len(set(f.read().split()))

    def log_size(self) -> int:
        return 0 if self.log is None else self.log.stat().st_size


@contextlib.contextmanager
def origin(prefix: Path) -> Iterator[Origin]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    ca_file, cert, key = prefix / "ca.pem", prefix / "cert.pem", prefix / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf.private_key_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    port = _free_port()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        log = prefix / "connections.log"
        log.touch()
        for name in ("client", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (prefix / name).mkdir()
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
        number = tuple(int(n) for n in version.stderr.split("/")[-1].strip().split(".")[:3])
        # ``http2 on;`` arrived in nginx 1.25.1; older ones say it on the listen line.
        listen, http2 = ("ssl", "http2 on;") if number >= (1, 25, 1) else ("ssl http2", "")
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format conn '$connection';
    access_log {log} conn buffer=64k flush=100ms;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 128;
    client_body_temp_path {prefix}/client;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} {listen} backlog=1024;
        {http2}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            default_type application/json;
            return 200 '{BODY.decode()}';
        }}
    }}
}}
"""
        )
        label = f"nginx ({version.stderr.strip()}), http2, TLS, 1 worker process"
        command = [nginx, "-p", str(prefix), "-c", str(conf)]
    else:
        log = None
        label = "hypercorn (its own process), h2, TLS"
        command = [
            sys.executable,
            "-m",
            "hypercorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--certfile",
            str(cert),
            "--keyfile",
            str(key),
            "benchmarks.bench_http2:app",
        ]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        _wait_for(port)
        yield Origin(f"https://127.0.0.1:{port}/", str(ca_file), label, log)
    finally:
        process.terminate()
        process.wait(10)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The hypercorn fallback origin: ``BODY`` for every request."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def drive(submit: Callable[[], Future[Any]], requests: int, window: int) -> int:
    """Run ``requests`` submissions, ``window`` in flight; the number that failed."""
    slots = threading.Semaphore(window)
    finished = threading.Event()
    lock = threading.Lock()
    counts = [requests, 0]  # remaining, failed

    def done(future: Future[Any]) -> None:
        failed = future.exception() is not None
        with lock:
            counts[0] -= 1
            counts[1] += failed
            if counts[0] == 0:
                finished.set()
        slots.release()

    for _ in range(requests):
        slots.acquire()
        submit().add_done_callback(done)
    finished.wait()
    return counts[1]


class Client:
    name = "?"

    def __init__(self, url: str, ca_file: str, concurrency: int) -> None:
        self.url, self.ca_file, self.concurrency = url, ca_file, concurrency

    def run(self, requests: int) -> int:
        """Send ``requests`` requests, ``concurrency`` at a time; the number that failed."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Netstack(Client):
    name = "netstack (Scheduler, HTTP2)"

    def __init__(self, url: str, ca_file: str, concurrency: int) -> None:
        super().__init__(url, ca_file, concurrency)
        self.options = netstack.HttpRequestOptions(
            using_protocol=netstack.HttpProtocol.HTTP2, ca_path=ca_file
        )
        self.scheduler = netstack.Scheduler(max_workers=concurrency, max_per_host=concurrency)

    def run(self, requests: int) -> int:
        def submit() -> Future[Any]:
            return self.scheduler.submit(self.url, self.options)

        return drive(submit, requests, self.concurrency)

    def close(self) -> None:
        self.scheduler.shutdown(wait=True)


class HttpxSync(Client):
    name = "httpx[http2] (sync, threads)"

    def __init__(self, url: str, ca_file: str, concurrency: int) -> None:
        import httpx

        super().__init__(url, ca_file, concurrency)
        self.client = httpx.Client(http2=True, verify=ca_file)
        self.executor = ThreadPoolExecutor(max_workers=concurrency)

    def _get(self) -> bytes:
        response = self.client.get(self.url)
        response.raise_for_status()
        if response.http_version != "HTTP/2":
            raise RuntimeError(response.http_version)
        return response.content

    def run(self, requests: int) -> int:
        return drive(lambda: self.executor.submit(self._get), requests, self.concurrency)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.client.close()


class HttpxAsync(Client):
    name = "httpx[http2] (async)"

    def __init__(self, url: str, ca_file: str, concurrency: int) -> None:
        import httpx

        super().__init__(url, ca_file, concurrency)
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(http2=True, verify=ca_file)

    async def _run(self, requests: int) -> int:
        slots = asyncio.Semaphore(self.concurrency)
        failed = 0

        async def one() -> None:
            nonlocal failed
            try:
                response = await self.client.get(self.url)
                response.raise_for_status()
            except Exception:
                failed += 1
            finally:
                slots.release()

        tasks = []
        for _ in range(requests):
            await slots.acquire()
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
        return failed

    def run(self, requests: int) -> int:
        return self.loop.run_until_complete(self._run(requests))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


CLIENTS: tuple[type[Client], ...] = (Netstack, HttpxSync, HttpxAsync)


@dataclass
class Round:
    rps: float
    cpu_ms: float
    connections: int | None
    failed: int


def measure(kind: type[Client], where: Origin, requests: int, concurrency: int) -> Round:
    client = kind(where.url, where.ca_file, concurrency)
    try:
        client.run(concurrency * 4)  # warm-up: connections open, threads started
        time.sleep(0.2)  # let nginx flush its log
        offset = where.log_size()
        cpu, wall = time.process_time(), time.perf_counter()
        failed = client.run(requests)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        time.sleep(0.3)
        conns = where.connections_since(offset)
        return Round(requests / wall, cpu * 1000 / requests, conns, failed)
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, origin(Path(tmp)) as where:
        print(f"origin: {where.label}")
        print(f"{args.requests} GETs of {len(BODY)} B per round, concurrency {args.concurrency}")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        results: dict[str, list[Round]] = {kind.name: [] for kind in CLIENTS}
        for index in range(args.rounds):
            for kind in CLIENTS if index % 2 == 0 else reversed(CLIENTS):
                results[kind.name].append(measure(kind, where, args.requests, args.concurrency))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        base = statistics.median(r.rps for r in results[Netstack.name])
        print(
            f"{'client':32} {'req/s':>8} {'CPU ms/req':>10} {'conns':>6} {'failed':>7}"
            f" {'rps vs netstack':>16}"
        )
        for name, rounds in results.items():
            rps = statistics.median(r.rps for r in rounds)
            cpu = statistics.median(r.cpu_ms for r in rounds)
            conns = {r.connections for r in rounds}
            shown = "?" if None in conns else "/".join(str(c) for c in sorted(conns))  # type: ignore[arg-type]
            failed = sum(r.failed for r in rounds)
            print(f"{name:32} {rps:8.0f} {cpu:10.3f} {shown:>6} {failed:7} {rps / base:15.2f}x")


if __name__ == "__main__":
    main()
