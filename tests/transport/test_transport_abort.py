"""AbortSignal: 2300042 well under 1 s, wherever the request is blocked."""

from __future__ import annotations

import socket
import time

import pytest
from servers_import import full_backlog, origin, raw_server, read_request, response
from transport_helpers import abort_after, send

from netstack.errors import ABORTED, HttpError
from netstack.transport import AbortSignal, Transport


def _aborted_within(transport: Transport, url: str, delay: float, **kwargs: object) -> float:
    abort = AbortSignal()
    abort_after(abort, delay)
    started = time.monotonic()
    with pytest.raises(HttpError) as info:
        send(transport, url, abort=abort, **kwargs)  # type: ignore[arg-type]
    assert info.value.code == ABORTED
    return time.monotonic() - started - delay


def test_abort_during_slow_body_and_connection_not_reused(transport: Transport) -> None:
    def handler(conn: socket.socket, index: int) -> None:
        read_request(conn)
        if index == 0:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(40):
                conn.sendall(b"d" * 100)
                time.sleep(0.05)
        else:
            conn.sendall(response(b"again"))

    with raw_server(handler) as srv:
        assert _aborted_within(transport, srv.url(), 0.3) < 0.5
        assert send(transport, srv.url()).body == b"again"
        assert srv.accepted == 2


def test_abort_during_stalled_read(transport: Transport) -> None:
    with raw_server(lambda conn, _: (read_request(conn), conn.recv(1))) as srv:
        assert _aborted_within(transport, srv.url(), 0.2) < 0.5


def test_abort_during_stream_between_chunks(transport: Transport) -> None:
    with origin() as base:
        url = base + "/slow?chunks=20&ms=50"
        assert _aborted_within(transport, url, 0.4, stream=True, max_body=None) < 0.5


def test_abort_during_connect(transport: Transport) -> None:
    with full_backlog() as (host, port):
        assert _aborted_within(transport, f"http://{host}:{port}/", 0.2) < 0.5


def test_abort_during_tls_handshake(transport: Transport) -> None:
    # A plain server that accepts and never speaks TLS: the handshake blocks.
    with raw_server(lambda conn, _: conn.recv(1)) as srv:
        assert _aborted_within(transport, srv.url(scheme="https"), 0.2) < 0.5


def test_already_aborted_sends_nothing(transport: Transport) -> None:
    abort = AbortSignal()
    abort.abort()
    with raw_server(lambda conn, _: None) as srv, pytest.raises(HttpError) as info:
        send(transport, srv.url(), abort=abort)
    assert info.value.code == ABORTED
