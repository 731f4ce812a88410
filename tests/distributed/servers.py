"""Test peers of the distributed tests: a redis-server and a counting origin.

``RedisServer`` runs ``redis-server`` on 127.0.0.1 and a free port, in a
temporary directory, with no persistence; it is always stopped.
``CountingOrigin`` is an HTTP origin on one or more loopback addresses
(127.0.0.x are distinct hosts to netstack) that records every request's
arrival and the most connections served at once per host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server; ``url`` is its redis:// URL."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="netstack-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None) -> None:
        assert self.binary is not None
        for _ in range(5):
            self.port = port or free_port()
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", self._dir.name,
                    "--protected-mode", "yes",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn,
                ):
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


def worker_command(url: str, queue: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "netstack.cli", "worker", "--redis", url, "--queue", queue, *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), str(ROOT), env.get("PYTHONPATH")]))
    return env


class Processes:
    """Child processes started by one test, always reaped."""

    def __init__(self) -> None:
        self.items: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.items.append(process)
        return process

    def close(self) -> None:
        for process in self.items:
            if process.poll() is None:
                process.kill()
        for process in self.items:
            process.communicate(timeout=10)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a killed worker's connection: expected here


@dataclass
class Record:
    arrivals: list[tuple[str, str]] = field(default_factory=list)  # (host, id)
    times: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic, host, id)
    seen: dict[str, int] = field(default_factory=dict)  # id -> arrivals
    active: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class CountingOrigin:
    """``/slow?ms=N&id=X`` waits N ms; ``/cached?id=X`` is fresh for a minute;
    ``/flaky?id=X&fails=N`` answers 503 to its first N arrivals; ``/redirect?to=URL``
    is a 302 to URL."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.record = Record()
        record = self.record

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                host = self.server.server_address[0]
                with record.lock:
                    record.arrivals.append((str(host), query.get("id", "")))
                    record.times.append((time.monotonic(), str(host), query.get("id", "")))
                    seen = record.seen[query.get("id", "")] = (
                        record.seen.get(query.get("id", ""), 0) + 1
                    )
                    n = record.active[host] = record.active.get(host, 0) + 1
                    record.peak[host] = max(record.peak.get(host, 0), n)
                record.started.set()
                try:
                    time.sleep(int(query.get("ms", "0")) / 1000)
                    body = f"{url.path} {query.get('id', '')}".encode()
                    if url.path == "/redirect":
                        self.send_response(302)
                        self.send_header("Location", query["to"])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    failing = url.path == "/flaky" and seen <= int(query.get("fails", "1"))
                    self.send_response(503 if failing else 200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    if url.path == "/cached":
                        self.send_header("Cache-Control", "max-age=60")
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with record.lock:
                        record.active[host] -= 1

        self.servers = [_QuietServer((h, 0), Handler) for h in hosts]
        for server in self.servers:
            server.daemon_threads = True
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self.servers
        ]
        for thread in self.threads:
            thread.start()

    def arrivals(self, request_id: str) -> int:
        with self.record.lock:
            return sum(1 for _, i in self.record.arrivals if i == request_id)

    def base(self, index: int = 0) -> str:
        host, port = self.servers[index].server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@contextlib.contextmanager
def counting_origin(*hosts: str) -> Iterator[CountingOrigin]:
    origin = CountingOrigin(hosts or ("127.0.0.1",))
    try:
        yield origin
    finally:
        origin.close()


def wait_idle(url: str, queue: str, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until ``count`` workers of ``queue`` are up and blocked on its empty queue."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + timeout
        while int(client.hget(f"netstack:{{{queue}}}:state", "idle") or 0) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} idle workers of {queue!r} not seen in time")
            time.sleep(0.05)
    finally:
        client.close()
