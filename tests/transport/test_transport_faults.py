"""Each failure maps to its HttpError code (errormap.RULES), against fault servers."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
import trustme
from servers_import import full_backlog, raw_server, read_request, reset, response
from transport_helpers import send

from netstack import errors
from netstack.errors import HttpError
from netstack.transport import Transport


def _code(transport: Transport, url: str, **kwargs: object) -> int:
    with pytest.raises(HttpError) as info:
        send(transport, url, **kwargs)  # type: ignore[arg-type]
    return info.value.code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unsupported_scheme(transport: Transport) -> None:
    assert _code(transport, "ftp://127.0.0.1/x") == errors.UNSUPPORTED_PROTOCOL


@pytest.mark.parametrize("url", ["http:///nohost", "http://exa mple.com:99999/"])
def test_bad_url(transport: Transport, url: str) -> None:
    assert _code(transport, url) == errors.BAD_URL


def test_name_resolution_failure(transport: Transport) -> None:
    assert _code(transport, "http://no-such-host.invalid/") == errors.HOST_RESOLVE


def test_connection_refused(transport: Transport) -> None:
    port = _free_port()
    with pytest.raises(HttpError) as info:
        send(transport, f"http://127.0.0.1:{port}/")
    assert info.value.code == errors.CONNECT_FAILED
    assert f"127.0.0.1:{port}" in info.value.detail


def test_connect_timeout(transport: Transport) -> None:
    with full_backlog() as (host, port):
        started = time.monotonic()
        code = _code(transport, f"http://{host}:{port}/", connect_timeout=0.3)
    assert code == errors.TIMEOUT
    assert time.monotonic() - started < 3


def test_read_timeout_when_the_server_never_answers(transport: Transport) -> None:
    with raw_server(lambda conn, _: (read_request(conn), conn.recv(1))) as srv:
        assert _code(transport, srv.url(), read_timeout=0.3) == errors.TIMEOUT


def test_garbage_status_line(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(b"SPDY/9 lol\r\n\r\n")

    with raw_server(handler) as srv:
        assert _code(transport, srv.url()) == errors.BAD_SERVER_RESPONSE


def test_empty_reply(transport: Transport) -> None:
    with raw_server(lambda conn, _: (read_request(conn), conn.close())) as srv:
        assert _code(transport, srv.url()) == errors.EMPTY_REPLY


def test_body_shorter_than_content_length(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        conn.close()

    with raw_server(handler) as srv:
        assert _code(transport, srv.url()) == errors.PARTIAL_FILE


def test_broken_chunked_body(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
        conn.close()

    with raw_server(handler) as srv:
        assert _code(transport, srv.url()) == errors.PARTIAL_FILE


def test_reset_while_receiving(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        time.sleep(0.05)
        reset(conn)

    with raw_server(handler) as srv:
        assert _code(transport, srv.url()) == errors.RECEIVE_FAILED


def test_reset_while_sending(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn, body=False)
        reset(conn)

    with raw_server(handler) as srv:
        code = _code(transport, srv.url(), method="PUT", body=b"u" * (8 * 1024 * 1024))
    assert code == errors.SEND_FAILED


def test_bad_content_encoding(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(response(b"this is not gzip", headers="Content-Encoding: gzip\r\n"))

    with raw_server(handler) as srv:
        assert _code(transport, srv.url()) == errors.BAD_ENCODING


def test_tls_hostname_mismatch_is_peer_cert(transport: Transport, tmp_path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("other.example").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(response())

    with raw_server(handler, tls=server_ctx) as srv:
        code = _code(transport, srv.url(scheme="https"), ca_path=str(ca_file))
    assert code == errors.PEER_CERT


def test_stale_keepalive_connection_is_retried_once(transport: Transport) -> None:
    """The server closes a kept-alive connection as the next request arrives."""

    def handler(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(response(b"first" if index == 0 else b"fresh"))
        if index == 0:
            read_request(conn)
            conn.close()

    with raw_server(handler) as srv:
        assert send(transport, srv.url()).body == b"first"
        assert send(transport, srv.url()).body == b"fresh"
        assert srv.accepted == 2
