"""A real forward proxy (proxy.py from PyPI) on loopback, in its own process.

``proxy_server(workdir, *flags)`` starts ``python -m proxy`` on 127.0.0.1,
port 0, with the :mod:`tests.servers.proxy_recorder` plugin, waits until it
listens and yields a :class:`ProxyServer`; its :meth:`~ProxyServer.seen`
lists what the proxy was asked to do, one line per request.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@dataclass
class ProxyServer:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self) -> list[str]:
        """Lines ``METHOD host:port target auth``, oldest first."""
        if not self.log.exists():
            return []
        return self.log.read_text(encoding="utf-8").splitlines()


@contextmanager
def proxy_server(workdir: Path, *flags: str) -> Iterator[ProxyServer]:
    workdir.mkdir(parents=True, exist_ok=True)
    log, port_file = workdir / "seen.log", workdir / "port"
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_ENV}
    env["NETSTACK_PROXY_LOG"] = str(log)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ROOT), env.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "proxy",
        "--hostname", "127.0.0.1", "--port", "0", "--port-file", str(port_file),
        "--num-acceptors", "1", "--num-workers", "1", "--log-level", "ERROR",
        "--plugins", "tests.servers.proxy_recorder.Recorder",
        *flags,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        port = _wait_listening(process, port_file)
        yield ProxyServer(port, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stderr is not None:
            process.stderr.close()


def _wait_listening(process: subprocess.Popen[bytes], port_file: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"proxy.py exited with {process.returncode}: {err[-2000:]}")
        text = port_file.read_text().strip() if port_file.exists() else ""
        if text.isdigit():
            try:
                socket.create_connection(("127.0.0.1", int(text)), timeout=1).close()
            except OSError:
                pass
            else:
                return int(text)
        time.sleep(0.05)
    raise RuntimeError("proxy.py did not start listening in 30 s")
