"""Timings, keep-alive reuse, streaming, upload progress and max_body."""

from __future__ import annotations

import json
import socket

import pytest
from servers_import import origin, raw_server, read_request, response
from transport_helpers import RecordingSink, send

from netstack.errors import MAX_SIZE_EXCEEDED, HttpError
from netstack.transport import Transport


def test_fresh_connection_timings_are_real_and_ordered(transport: Transport) -> None:
    with origin() as base:
        t = send(transport, base + "/bytes?n=10").timings
    assert 0 < t.dns <= t.tcp <= t.first_send <= t.first_receive
    assert t.first_receive <= t.response_header <= t.response_body <= t.total_finish
    assert (t.tls, t.redirect) == (0.0, 0.0)


def test_reused_connection_has_no_connect_phase(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        for _ in range(3):
            if not read_request(conn):
                return
            conn.sendall(response(b"k"))

    with raw_server(handler) as srv:
        send(transport, srv.url())
        t = send(transport, srv.url()).timings
        assert srv.accepted == 1
    assert t.dns == t.tcp > 0
    assert t.tcp <= t.first_send <= t.first_receive <= t.total_finish


def test_stream_mode_emits_chunks_and_keeps_nothing(transport: Transport) -> None:
    size = 300_000
    with origin() as base:
        sink = RecordingSink()
        resp = send(transport, f"{base}/bytes?n={size}", sink=sink, stream=True, max_body=None)
    assert resp.body == b""
    assert sum(len(c) for c in sink.of("data")) == size
    progress = sink.of("receive")
    assert progress[-1] == (size, size)
    assert [r for r, _ in progress] == sorted(r for r, _ in progress)
    names = [name for name, _ in sink.events]
    assert names[0] == "headers"
    assert names[1:3] == ["data", "receive"]


def test_upload_progress_is_monotonic_up_to_total(transport: Transport) -> None:
    body = b"u" * (1024 * 1024)
    with origin() as base:
        sink = RecordingSink()
        resp = send(transport, base + "/echo", "POST", body=body, sink=sink)
    assert json.loads(resp.body)["length"] == len(body)
    progress = sink.of("send")
    assert len(progress) == 16
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)
    assert progress[-1] == (len(body), len(body))
    assert "Transfer-Encoding" not in json.loads(resp.body)["headers"]


def test_iterable_body_uses_body_size(transport: Transport) -> None:
    chunks = [b"a" * 1000, b"b" * 2000]
    with origin() as base:
        sink = RecordingSink()
        resp = send(transport, base + "/echo", "PUT", body=iter(chunks), body_size=3000, sink=sink)
    assert json.loads(resp.body)["length"] == 3000
    assert sink.of("send") == [(1000, 3000), (3000, 3000)]


def test_small_body_reports_once(transport: Transport) -> None:
    with origin() as base:
        sink = RecordingSink()
        send(transport, base + "/echo", "POST", body=b"tiny", sink=sink)
    assert sink.of("send") == [(4, 4)]


def test_max_body_applies_to_decoded_bytes(transport: Transport) -> None:
    with origin() as base:
        ok = send(transport, f"{base}/bomb?n=100000", max_body=100_000)
        assert ok.body == b"\0" * 100_000
        with pytest.raises(HttpError) as info:
            send(transport, f"{base}/bomb?n={50 * 1024 * 1024}", max_body=1024 * 1024)
    assert info.value.code == MAX_SIZE_EXCEEDED


def test_max_body_error_does_not_pool_the_half_read_connection(transport: Transport) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(response(b"y" * 200_000))
        read_request(conn)
        conn.sendall(response(b"z"))

    with raw_server(handler) as srv:
        with pytest.raises(HttpError):
            send(transport, srv.url(), max_body=1000)
        send(transport, srv.url())
        assert srv.accepted == 2


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(transport: Transport, status: int) -> None:
    def handler(conn: socket.socket, _: int) -> None:
        read_request(conn)
        conn.sendall(f"HTTP/1.1 {status} X\r\n\r\n".encode())

    with raw_server(handler) as srv:
        sink = RecordingSink()
        resp = send(transport, srv.url(), sink=sink, stream=True, max_body=None)
    assert (resp.status, resp.body, sink.of("data")) == (status, b"", [])
