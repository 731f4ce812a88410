"""The benchmark origin: nginx serving static files on loopback, on its own core.

A slow origin measures waiting, not the client: against the Python asyncio
origin the client threads mostly sleep. So the benchmarks serve from nginx
when it is installed, and fall back to ``benchmarks/origin.py`` (asyncio, its
own process) otherwise, labelling those figures as such.

Install nginx (only the binary is used; no service needs to run):

- Debian/Ubuntu: ``sudo apt-get install nginx-light`` (or ``nginx``)
- Fedora/RHEL: ``sudo dnf install nginx``
- macOS: ``brew install nginx``

:func:`static_origin` writes an nginx configuration into a temporary
directory (1 worker process, ``access_log off``, keep-alive without a
request limit, ``sendfile``) serving a directory of static files on
127.0.0.1, and stops nginx afterwards. Where the machine has two cores or
more, :func:`split_cores` puts the server on one core and the client on
another (``os.sched_setaffinity``, inherited by nginx's worker), so neither
steals the other's CPU.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.origin import running_origin

__all__ = ["Origin", "find_nginx", "pin_client", "split_cores", "static_origin"]

#: Where distributions put the binary when /usr/sbin is not on PATH.
_NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/opt/homebrew/bin/nginx")


def find_nginx() -> str | None:
    """The nginx binary, or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return next((p for p in _NGINX_PLACES if os.access(p, os.X_OK)), None)


def split_cores() -> tuple[set[int], set[int]] | None:
    """(client cores, server cores) when there are two or more to split; else None."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    return {cores[0]}, {cores[1]}


def pin_client() -> str:
    """Pin this process to the client core; a phrase saying what was done."""
    split = split_cores()
    if split is None:
        return "client and server share the CPU (fewer than two cores, or no affinity API)"
    client, server = split
    os.sched_setaffinity(0, client)
    return f"client pinned to core {min(client)}, server to core {min(server)}"


class Origin:
    """A running origin: its base URL and a label saying what it is."""

    def __init__(self, base: str, label: str, nginx: bool) -> None:
        self.base = base
        self.label = label
        self.nginx = nginx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on port {port}")


def _open_file_cache_size() -> int:
    """Cached descriptors nginx may hold: half its file limit, at most 50,000.

    Past the limit (20,000 here) nginx answers 500 and stalls connections:
    a 20,000-page crawl then sees its last pages fail.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 50_000
    return max(100, min(50_000, soft // 2))


def _config(prefix: Path, root: Path, port: int) -> str:
    temp = {name: prefix / name for name in ("client", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    return f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max={_open_file_cache_size()} inactive=60s;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    default_type text/html;
    client_body_temp_path {temp["client"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
    }}
}}
"""


@contextlib.contextmanager
def _nginx(nginx: str, root: Path) -> Iterator[Origin]:
    port = _free_port()
    split = split_cores()
    root.chmod(0o755)  # nginx started by root serves as "nobody"
    with tempfile.TemporaryDirectory(prefix="netstack-nginx-") as tmp:
        prefix = Path(tmp)
        conf = prefix / "nginx.conf"
        conf.write_text(_config(prefix, root.resolve(), port))

        def on_server_core() -> None:
            if split is not None:
                os.sched_setaffinity(0, split[1])

        process = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stderr=subprocess.DEVNULL,
            preexec_fn=on_server_core,  # noqa: PLW1509 - only sets the CPU affinity
        )
        try:
            _wait_for(port, process)
            version = subprocess.run(
                [nginx, "-v"], capture_output=True, text=True, check=False
            ).stderr.strip()
            yield Origin(f"http://127.0.0.1:{port}", f"nginx ({version}), 1 worker", True)
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def static_origin(root: Path, *, allow_fallback: bool = True) -> Iterator[Origin]:
    """Serve the files under ``root``: nginx if installed, else the asyncio origin."""
    nginx = find_nginx()
    if nginx is not None:
        with _nginx(nginx, root) as origin:
            yield origin
        return
    if not allow_fallback:
        raise RuntimeError("nginx is not installed (see benchmarks/nginx.py)")
    with running_origin(root=root) as base:
        yield Origin(base, "FALLBACK benchmarks/origin.py (asyncio, Python): not nginx", False)
