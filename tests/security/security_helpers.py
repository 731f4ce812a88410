"""Loopback peers for the security tests: a recording server, TLS contexts, pins."""

from __future__ import annotations

import base64
import hashlib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tests.servers.raw import RawServer, raw_server, read_request, response


@contextmanager
def recording_server(
    answer: bytes | None = None, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> Iterator[tuple[RawServer, list[bytes]]]:
    """Keep-alive server that records each request head and answers ``answer`` (200 ok)."""
    heads: list[bytes] = []

    def handler(conn: socket.socket, _: int) -> None:
        while True:
            head = read_request(conn)
            if not head:
                return
            heads.append(head)
            conn.sendall(answer if answer is not None else response(b"ok"))

    with raw_server(handler, host=host, tls=tls) as server:
        yield server, heads


def header_names(head: bytes) -> set[str]:
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    return {line.split(b":", 1)[0].decode("latin-1").lower() for line in lines}


def server_context(ca: trustme.CA, name: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh key for ``name``, and that key's pin."""
    cert = ca.issue_cert(name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context, pin_of(cert.cert_chain_pems[0].bytes())


def pin_of(cert_pem: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)), computed independently of netstack."""
    spki = (
        x509.load_pem_x509_certificate(cert_pem)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def ca_file(ca: trustme.CA, directory: Path) -> str:
    path = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
