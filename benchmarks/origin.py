"""A fast keep-alive HTTP/1.1 origin for benchmarks, run in its own process.

It answers every request with a fixed small body; ``/delay/<ms>`` answers
after that many milliseconds; ``/bytes/<n>`` streams n bytes (flow-controlled).
Given a ROOT directory it serves the files under it instead (the fallback of
``benchmarks/nginx.py`` when nginx is not installed). Running it in a
separate process keeps its CPU out of the client's measurements.
``python benchmarks/origin.py PORTFILE [ROOT]`` writes the bound port to
PORTFILE and serves until killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BODY = b'{"ok": true, "padding": "' + b"x" * 200 + b'"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


_BLOCK = b"\0" * (256 * 1024)


_ROOT: Path | None = None
_FILES: dict[bytes, bytes] = {}


def _static(target: bytes) -> bytes:
    """The response for ``target`` under ``_ROOT`` (files read once, then kept)."""
    path = target.split(b"?")[0]
    answer = _FILES.get(path)
    if answer is None:
        assert _ROOT is not None
        file = (_ROOT / path.decode().lstrip("/")).resolve()
        if file.is_relative_to(_ROOT) and file.is_file():
            body = file.read_bytes()
            status = b"200 OK"
        else:
            body, status = b"not found", b"404 Not Found"
        answer = b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)
        if len(body) < 1 << 20:
            _FILES[path] = answer
    return answer


class _Origin(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.can_write = asyncio.Event()
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    async def _stream(self, size: int) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n"
        self.transport.write(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n")
        while size > 0:
            await self.can_write.wait()
            block = _BLOCK if size >= len(_BLOCK) else _BLOCK[:size]
            self.transport.write(block)
            size -= len(block)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            target = head.split(b" ", 2)[1] if b" " in head else b"/"
            if _ROOT is not None:
                self.transport.write(_static(target))
            elif target.startswith(b"/bytes/"):
                size = int(target[7:].split(b"?")[0])
                asyncio.get_running_loop().create_task(self._stream(size))
            elif target.startswith(b"/delay/"):
                delay = int(target[7:].split(b"?")[0]) / 1000
                asyncio.get_running_loop().call_later(delay, self.transport.write, RESPONSE)
            else:
                self.transport.write(RESPONSE)


async def _serve(port_file: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Origin, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    Path(port_file).write_text(str(port))
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def running_origin(root: Path | None = None) -> Iterator[str]:
    """Start the origin in a subprocess (serving ``root`` if given); yield its base URL."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        extra = [] if root is None else [str(root)]
        process = subprocess.Popen([sys.executable, __file__, port_file, *extra])
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file) or not Path(port_file).read_text():
                if time.monotonic() > deadline:
                    raise RuntimeError("the benchmark origin did not start")
                time.sleep(0.02)
            yield f"http://127.0.0.1:{Path(port_file).read_text()}"
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        _ROOT = Path(sys.argv[2]).resolve()
    asyncio.run(_serve(sys.argv[1]))
