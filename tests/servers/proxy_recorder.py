"""A proxy.py plugin that appends one line per proxied request to ``$NETSTACK_PROXY_LOG``.

Runs inside the proxy.py process (``--plugins tests.servers.proxy_recorder.Recorder``).
A line is ``METHOD host:port target auth`` where ``target`` is the request
target as the client sent it (absolute form for forwarded http, ``host:port``
for CONNECT) and ``auth`` is the Proxy-Authorization value or ``-``; it is
written before the proxy connects upstream, so it is there once the client
has its response.
"""

from __future__ import annotations

import os
from typing import Any

from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin


class Recorder(HttpProxyBasePlugin):
    def before_upstream_connection(self, request: HttpParser) -> HttpParser | None:
        auth = b"-"
        if request.has_header(b"proxy-authorization"):
            auth = request.header(b"proxy-authorization")
        host = (request.host or b"?").decode()
        target = f"{host}:{request.port}" if request.is_https_tunnel else _url(request)
        line = (
            f"{(request.method or b'?').decode()} {host}:{request.port} {target} {auth.decode()}\n"
        )
        with open(os.environ["NETSTACK_PROXY_LOG"], "a", encoding="utf-8") as log:
            log.write(line)
        return request

    def on_access_log(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return None  # keep the proxy quiet


def _url(request: HttpParser) -> str:
    url = request._url  # the parsed request target
    if url is None:
        return "?"
    scheme = (url.scheme or b"").decode()
    path = (request.path or b"").decode()
    return f"{scheme}://{(url.hostname or b'').decode()}:{url.port}{path}" if scheme else path
