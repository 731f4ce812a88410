"""Response heads and body framing, with either head parser, against a raw server.

A keep-alive raw server answers ``/x?case=NAME`` with the exact bytes of
``CASES[NAME]`` and any other path with a small ``200 next``. After each
accepted case, a follow-up request must get its own response on the same
connection: the framing left nothing behind and read nothing too far.
Refused heads are 2300008 (invalid server response).
"""

from __future__ import annotations

import gzip
import itertools
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.servers.raw import RawServer, raw_server, read_request
from tests.transport.transport_helpers import send

from netstack import HttpError
from netstack.transport import Transport
from netstack.transport.connection import TimedHTTPConnection, use_parser
from netstack.transport.responses import PARSERS

pytestmark = pytest.mark.timeout(120)

_NEXT = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
_ZIPPED = gzip.compress(b"hello, transfer-coded world")


def _chunked(body: bytes, size: int = 7) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


CASES: dict[str, bytes] = {
    "repeated-value": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
    "repeated-field": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "conflicting-value": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
    "conflicting-field": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\nhello!",
    "gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
    + _chunked(_ZIPPED),
    "chunked-with-length": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 5\r\n\r\n" + _chunked(b"hello"),
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello",
    "long-line": b"HTTP/1.1 200 OK\r\nX-Long: "
    + b"v" * (64 * 1024)
    + b"\r\nContent-Length: 5\r\n\r\nhello",
}


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    def handler(conn: socket.socket, _index: int) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(10_000):
            head = read_request(conn)
            if not head:
                return
            target = head.split(b" ", 2)[1].decode()
            if target.startswith("/x?case="):
                conn.sendall(CASES[target.partition("=")[2]])
            elif target.startswith("/split?at="):
                _write_split(conn, target.partition("=")[2])
            else:
                conn.sendall(_NEXT)

    with raw_server(handler) as raw:
        yield raw


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(max_per_host=1)
    yield t
    t.close()


def _case(transport: Transport, server: RawServer, name: str) -> tuple[int, bytes, str]:
    """(status, body, follow-up body) for one case; raises HttpError for a refused one."""
    accepted = server.accepted
    try:
        response = send(transport, server.url(f"/x?case={name}"), read_timeout=5.0)
    finally:
        follow_up = send(transport, server.url("/next"), read_timeout=5.0)
    if server.accepted != accepted + 1:
        return response.status, response.body, "new connection"
    return response.status, response.body, follow_up.body.decode()


@pytest.mark.usefixtures("http1_parser")
@pytest.mark.parametrize("name", ["repeated-value", "repeated-field"])
def test_identical_content_lengths_are_one_length(
    transport: Transport, server: RawServer, name: str
) -> None:
    """As curl: no wait for the read timeout, the connection stays usable."""
    assert _case(transport, server, name) == (200, b"hello", "next")


@pytest.mark.usefixtures("http1_parser")
@pytest.mark.parametrize("name", ["conflicting-value", "conflicting-field"])
def test_conflicting_content_lengths_are_2300008(
    transport: Transport, server: RawServer, name: str
) -> None:
    with pytest.raises(HttpError) as caught:
        _case(transport, server, name)
    assert caught.value.code == 2300008


@pytest.mark.usefixtures("http1_parser")
def test_gzip_then_chunked_transfer_codings_are_both_undone(
    transport: Transport, server: RawServer
) -> None:
    assert _case(transport, server, "gzip-chunked") == (200, b"hello, transfer-coded world", "next")


@pytest.mark.usefixtures("llhttp_parser")
@pytest.mark.parametrize("name", ["chunked-with-length", "obs-fold", "bare-lf"])
def test_llhttp_refuses_what_strict_framing_forbids(
    transport: Transport, server: RawServer, name: str
) -> None:
    with pytest.raises(HttpError) as caught:
        _case(transport, server, name)
    assert caught.value.code == 2300008


@pytest.mark.usefixtures("llhttp_parser")
def test_a_64_kib_header_line_is_accepted(transport: Transport, server: RawServer) -> None:
    """llhttp bounds the whole head (300 KiB, as curl), not a line (http.client: 64 KiB)."""
    response = send(transport, server.url("/x?case=long-line"), read_timeout=5.0)
    assert response.headers["x-long"] == "v" * (64 * 1024)
    assert response.body == b"hello"
    assert send(transport, server.url("/next"), read_timeout=5.0).body == b"next"


# -- a response split at every byte boundary ---------------------------------------

_SPLIT_RESPONSE = (
    b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Multi: a\r\nx-multi: b\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(b"split-body-0123456789", 5)
)


def _write_split(conn: socket.socket, at: str) -> None:
    cuts = sorted({int(c) for c in at.split(",") if c} | {0, len(_SPLIT_RESPONSE)})
    for start, end in itertools.pairwise(cuts):
        conn.sendall(_SPLIT_RESPONSE[start:end])
        time.sleep(0.001)  # separate segments, separate reads


def _check_split(transport: Transport, server: RawServer, cuts: list[int]) -> None:
    url = server.url("/split?at=" + ",".join(map(str, cuts)))
    response = send(transport, url, read_timeout=5.0)
    assert response.status == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.headers.getlist("x-multi") == ["a", "b"]
    assert response.body == b"split-body-0123456789"


@pytest.mark.usefixtures("http1_parser")
def test_a_response_split_at_every_byte_boundary(transport: Transport, server: RawServer) -> None:
    accepted = server.accepted
    for cut in range(1, len(_SPLIT_RESPONSE)):
        _check_split(transport, server, [cut])
    assert server.accepted == accepted + 1  # all on one kept-alive connection


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cuts=st.lists(st.integers(1, len(_SPLIT_RESPONSE) - 1), max_size=12))
def test_a_response_split_anywhere_in_many_pieces(
    transport: Transport, server: RawServer, cuts: list[int]
) -> None:
    for parser in PARSERS:
        previous = TimedHTTPConnection.response_class
        use_parser(parser)
        try:
            _check_split(transport, server, cuts)
        finally:
            TimedHTTPConnection.response_class = previous
