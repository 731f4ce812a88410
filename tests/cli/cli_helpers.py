"""A loopback origin for the CLI tests and a runner for the real console script.

Origin endpoints: ``/echo`` (any method: JSON of method, path, query, headers,
body as text, body length and sha256), ``/text`` (text/plain with two
cookies), ``/binary`` (bytes 0..255), ``/status/<n>``, ``/cacheable/<name>``
(max-age=300), ``/slow?ms=N`` (counted: ``/stats`` gives the most ``/slow``
requests in flight at once), ``/big?n=N`` (N bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import netstack

SRC = Path(netstack.__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "netstack.cli"]


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.slow_now = 0
        self.slow_max = 0


def _app(state: _State) -> Any:
    @Request.application
    def app(request: Request) -> Response:
        path, args = request.path, request.args
        if path == "/echo":
            body = request.get_data()
            return Response(
                json.dumps(
                    {
                        "method": request.method,
                        "path": path,
                        "query": request.query_string.decode(),
                        "headers": dict(request.headers),
                        "body": body.decode("utf-8", "replace"),
                        "length": len(body),
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
                ),
                mimetype="application/json",
            )
        if path == "/text":
            response = Response("hello netstack\n", mimetype="text/plain")
            response.set_cookie("a", "1")
            response.set_cookie("b", "2")
            return response
        if path == "/binary":
            return Response(bytes(range(256)), mimetype="application/octet-stream")
        if path.startswith("/status/"):
            return Response(f"status {path[8:]}", status=int(path[8:]), mimetype="text/plain")
        if path.startswith("/cacheable/"):
            return Response(
                f"cached {path[11:]}",
                mimetype="text/plain",
                headers={"Cache-Control": "max-age=300", "ETag": f'"{path[11:]}"'},
            )
        if path == "/slow":
            with state.lock:
                state.slow_now += 1
                state.slow_max = max(state.slow_max, state.slow_now)
            try:
                time.sleep(int(args.get("ms", "100")) / 1000)
            finally:
                with state.lock:
                    state.slow_now -= 1
            return Response("slow", mimetype="text/plain")
        if path == "/stats":
            return Response(json.dumps({"slow_max": state.slow_max}), mimetype="application/json")
        if path == "/big":
            return Response(b"b" * int(args.get("n", "0")), mimetype="application/octet-stream")
        return Response("not found", status=404)

    return app


@contextmanager
def serve(ssl_context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run the origin on 127.0.0.1, port 0; yield its base URL; always stop it."""
    server = make_server("127.0.0.1", 0, _app(_State()), threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def cli_env() -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout's netstack, no colours, wide."""
    paths = [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "COLUMNS": "200"}
    env["NO_COLOR"] = "1"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


def run_cli(
    *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run ``netstack ARGS`` to completion."""
    return subprocess.run(
        [*COMMAND, *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env=cli_env(),
        check=False,
    )


def jsonl(data: bytes) -> list[dict[str, Any]]:
    """Parse JSON Lines; every line must be a JSON object."""
    return [json.loads(line) for line in data.decode().splitlines()]


def write_lines(path: Path, items: Sequence[object]) -> Path:
    """Write items as JSON Lines (str items verbatim)."""
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items))
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
