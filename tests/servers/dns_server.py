"""Loopback DNS peers sharing one made-up zone: a dnslib server and a DoH endpoint.

- ``dns_server(zone)``: dnslib's ``DNSServer`` (UDP and TCP) on 127.0.0.1,
  port 0 — or a given 127.x address and port;
- ``silent_dns_server()``: a UDP socket that reads queries and never answers;
- ``doh_server(zone, cert)``: an RFC 8484 endpoint (``/dns-query``, GET with
  ``?dns=`` or POST of ``application/dns-message``) over TLS with a trustme
  certificate;
- ``named_origin(cert)``: an http or https origin that records the TLS SNI
  and the Host header it was sent and answers ``/`` with them as JSON.

Every query any of them receives is recorded in the :class:`Zone`. Nothing
binds outside 127.0.0.0/8.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


@dataclass
class Zone:
    """Names (lowercase, no trailing dot) to addresses; what was asked; forced failures."""

    records: dict[str, list[str]] = field(default_factory=dict)
    ttl: int = 60
    #: Answer every query with this rcode (e.g. RCODE.SERVFAIL) instead.
    rcode: int | None = None
    #: ``(name, qtype, via)`` per query received; ``via`` is "udp", "tcp", "GET" or "POST".
    queries: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def names_asked(self) -> list[str]:
        with self.lock:
            return [name for name, _, _ in self.queries]

    def answer(self, request: DNSRecord, via: str) -> DNSRecord:
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype, via))
        reply = request.reply()
        if self.rcode is not None:
            reply.header.rcode = self.rcode
            return reply
        if qname not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for address in self.records[qname]:
            if qtype == "A" and ":" not in address:
                reply.add_answer(RR(qname, QTYPE.A, rdata=A(address), ttl=self.ttl))
            elif qtype == "AAAA" and ":" in address:
                reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA(address), ttl=self.ttl))
        return reply


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        via = "tcp" if handler.protocol == "tcp" else "udp"
        return self.zone.answer(request, via)


@dataclass
class DnsPeer:
    host: str
    port: int

    @property
    def address(self) -> str:
        """The ``dns_servers`` entry naming this peer."""
        return f"{self.host}:{self.port}"


@contextmanager
def dns_server(zone: Zone, host: str = "127.0.0.1", port: int = 0) -> Iterator[DnsPeer]:
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    for attempt in range(20):  # UDP takes a free port; TCP may find it taken: retry
        udp = DNSServer(_ZoneResolver(zone), address=host, port=port, logger=quiet)
        bound = udp.server.server_address[1]
        try:
            tcp = DNSServer(_ZoneResolver(zone), address=host, port=bound, tcp=True, logger=quiet)
            break
        except OSError:
            udp.server.server_close()
            if port or attempt == 19:
                raise
    udp.start_thread()
    tcp.start_thread()
    try:
        yield DnsPeer(host, bound)
    finally:
        for server in (udp, tcp):
            server.server.shutdown()
            server.server.server_close()


@contextmanager
def silent_dns_server() -> Iterator[tuple[DnsPeer, list[bytes]]]:
    """A UDP peer that swallows every query; yields it and the datagrams it got."""
    received: list[bytes] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def swallow() -> None:
        while not stop.is_set():
            with suppress(OSError):
                received.append(sock.recv(4096))

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        yield DnsPeer("127.0.0.1", sock.getsockname()[1]), received
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return thread


@contextmanager
def doh_server(zone: Zone, cert: trustme.LeafCert) -> Iterator[str]:
    """An RFC 8484 endpoint; yields its URL ``https://127.0.0.1:port/dns-query``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _reply(self, wire: bytes) -> None:
            try:
                answer = zone.answer(DNSRecord.parse(wire), self.command).pack()
            except Exception:  # a malformed query: 400, as RFC 8484 §4.2.1 allows
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/dns-message")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def do_GET(self) -> None:
            value = parse_qs(urlsplit(self.path).query).get("dns", [""])[0]
            self._reply(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.headers.get("Content-Type") != "application/dns-message":
                self.send_response(415)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._reply(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = _serve(server)
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/dns-query"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class NamedOrigin:
    port: int
    #: TLS server names the clients sent (None: no SNI), and Host headers received.
    sni: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    #: TCP connections accepted.
    connections: int = 0


@contextmanager
def named_origin(cert: trustme.LeafCert | None = None) -> Iterator[NamedOrigin]:
    """An origin on 127.0.0.1 (https when ``cert`` is given) recording SNI and Host."""
    record = NamedOrigin(0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def setup(self) -> None:
            record.connections += 1
            super().setup()

        def do_GET(self) -> None:
            host = self.headers.get("Host", "")
            record.hosts.append(host)
            body = json.dumps({"host": host, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)

        def on_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            record.sni.append(name)

        context.sni_callback = on_sni  # type: ignore[assignment]
        server.socket = context.wrap_socket(server.socket, server_side=True)
    record.port = server.server_address[1]
    thread = _serve(server)
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
