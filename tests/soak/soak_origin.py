"""The soak's origin: one fast keep-alive HTTP/1.1 server on each of 127.0.0.1..N.

Run as ``python soak_origin.py PORTFILE HOSTS``; all servers share one asyncio
loop in this process (its CPU stays out of the client's). Paths choose the
answer: ``/ok/...`` 200, ``/500/...`` 500, ``/reset/...`` a TCP RST instead of
a response, ``/slow/...`` a 200 after SLOW_SECONDS (past the client's read
timeout). PORTFILE receives one JSON list of ``[host, port]`` pairs.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from pathlib import Path

SLOW_SECONDS = 0.6
BODY = b'{"ok": true, "padding": "' + b"x" * 100 + b'"}'


def _response(status: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
    return head + str(len(body)).encode() + b"\r\n\r\n" + body


OK = _response(b"200 OK", BODY)
ERROR = _response(b"500 Internal Server Error", b'{"error": true}')


class _Origin(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            parts = head.split(b" ", 2)
            target = parts[1] if len(parts) > 1 else b"/"
            if target.startswith(b"/reset/"):
                sock = self.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.transport.abort()
                return
            if target.startswith(b"/slow/"):
                asyncio.get_running_loop().call_later(SLOW_SECONDS, self._late)
            elif target.startswith(b"/500/"):
                self.transport.write(ERROR)
            else:
                self.transport.write(OK)

    def _late(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(OK)


async def _serve(port_file: str, hosts: int) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for index in range(1, hosts + 1):
        host = f"127.0.0.{index}"
        servers.append(await loop.create_server(_Origin, host, 0, backlog=1024))
    pairs = [[f"127.0.0.{i + 1}", s.sockets[0].getsockname()[1]] for i, s in enumerate(servers)]
    Path(port_file + ".tmp").write_text(json.dumps(pairs))
    Path(port_file + ".tmp").rename(port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2])))
