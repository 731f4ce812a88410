"""Informational (1xx) responses before the final one never desynchronise a connection.

A raw keep-alive server answers ``/a`` with one or more 1xx heads, then the
real response (Content-Length or chunked); ``/b`` and ``/c`` get their own
bodies. On a one-worker, one-connection scheduler each request must get its
own response, all on one connection, over plain HTTP and TLS, with either
response-head parser (llhttp and http.client's fallback).
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme
from tests.servers.raw import RawServer, raw_server, read_request

import netstack
from netstack import Scheduler

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("http1_parser")]

_OPTIONS = {"readTimeout": 3000, "connectTimeout": 3000, "usingCache": False}


def _final(body: bytes, framing: str) -> bytes:
    if framing == "chunked":
        half = len(body) // 2
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]) if part
        )
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _informational(code: int) -> bytes:
    reasons = {100: b"Continue", 102: b"Processing", 103: b"Early Hints"}
    head = b"HTTP/1.1 %d %s\r\n" % (code, reasons.get(code, b"Info"))
    if code == 103:
        head += b"Link: </s.css>; rel=preload; as=style\r\nLink: </s.js>; rel=preload\r\n"
    return head + b"\r\n"


def _serve(codes: list[int], framing: str, pause: float) -> object:
    def handler(conn: socket.socket, _index: int) -> None:
        for _ in range(16):
            head = read_request(conn)
            if not head:
                return
            path = head.split(b" ", 2)[1].decode()
            body = f"body-of-{path.strip('/')}".encode()
            if path == "/a":
                conn.sendall(b"".join(_informational(code) for code in codes))
                time.sleep(pause)
            conn.sendall(_final(body, framing))

    return handler


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _fetch_three(
    server: RawServer, scheme: str, options: dict[str, object]
) -> list[tuple[int, str]]:
    got = []
    with Scheduler(max_workers=1, max_per_host=1, name="informational") as scheduler:
        futures = [
            netstack.create_http(scheduler).request(server.url(p, scheme), options)
            for p in ("/a", "/b", "/c")
        ]
        for future in futures:
            response = future.result(timeout=30)
            got.append((response.response_code, response.result))
    return got


_EXPECTED = [(200, "body-of-a"), (200, "body-of-b"), (200, "body-of-c")]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize(
    "codes",
    [[103], [102], [100], [199], [103, 103], [102, 103, 100, 199], [103] * 50],
    ids=lambda codes: "-".join(map(str, codes[:4])) + ("x50" if len(codes) == 50 else ""),
)
def test_informational_responses_are_skipped(codes: list[int], framing: str) -> None:
    with raw_server(_serve(codes, framing, 0.05)) as server:
        assert _fetch_three(server, "http", _OPTIONS) == _EXPECTED
        assert server.accepted == 1  # one connection carried all three, in step


def test_the_issue_repro_103_then_a_late_200() -> None:
    with raw_server(_serve([103], "content-length", 0.3)) as server:
        assert _fetch_three(server, "http", _OPTIONS) == _EXPECTED


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("codes", [[103], [102, 103]])
def test_informational_responses_are_skipped_over_tls(
    codes: list[int], framing: str, ca: trustme.CA, tmp_path: Path
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with raw_server(_serve(codes, framing, 0.05), tls=context) as server:
        options = {**_OPTIONS, "caPath": str(ca_file)}
        assert _fetch_three(server, "https", options) == _EXPECTED
        assert server.accepted == 1


def test_endless_informational_responses_are_2300008() -> None:
    def handler(conn: socket.socket, _index: int) -> None:
        read_request(conn)
        burst = _informational(102) * 200
        for _ in range(100):  # 20,000 heads, more than any client should skip
            conn.sendall(burst)

    with raw_server(handler) as server, Scheduler(max_workers=1, name="endless-1xx") as s:
        error = netstack.create_http(s).request(server.url("/a"), _OPTIONS).exception(timeout=30)
    assert isinstance(error, netstack.HttpError)
    assert error.code == 2300008
