"""A tiny threaded werkzeug origin for slow responses, large bodies, echoes, redirects.

Endpoints: ``/bytes?n=N`` N bytes (Content-Length); ``/slow?chunks=K&ms=D``
K chunks of 1 KiB, D ms apart (chunked); ``/bomb?n=N`` N zero bytes,
gzip-encoded (tiny on the wire); ``/echo`` any method: JSON of method,
headers and body length; ``/redirect?to=URL&status=S`` a redirect.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@Request.application
def _app(request: Request) -> Response:
    path, args = request.path, request.args
    if path == "/bytes":
        return Response(b"x" * int(args.get("n", "0")), mimetype="application/octet-stream")
    if path == "/slow":
        chunks, delay = int(args.get("chunks", "10")), int(args.get("ms", "100")) / 1000

        def drip() -> Iterable[bytes]:
            for _ in range(chunks):
                yield b"s" * 1024
                time.sleep(delay)

        return Response(drip(), mimetype="application/octet-stream")
    if path == "/bomb":
        body = gzip.compress(b"\0" * int(args.get("n", "0")), compresslevel=9)
        return Response(body, headers={"Content-Encoding": "gzip"})
    if path == "/echo":
        data = request.get_data()
        return Response(
            json.dumps(
                {"method": request.method, "headers": dict(request.headers), "length": len(data)}
            ),
            mimetype="application/json",
        )
    if path == "/redirect":
        return Response(
            b"", status=int(args.get("status", "302")), headers={"Location": args["to"]}
        )
    return Response(b"not found", status=404)


@contextmanager
def origin(host: str = "127.0.0.1") -> Iterator[str]:
    """Run the origin on ``host``, port 0; yields its base URL ``http://host:port``."""
    server = make_server(host, 0, _app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
