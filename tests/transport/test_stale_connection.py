"""A kept-alive connection the server closed after reading the next request.

The raw server answers the first request on its first connection and keeps
it open; it reads the second request on that connection and closes it
without a byte of answer. Every later connection answers normally. Which
requests are sent again on a new connection (docs/reliability.md):
idempotent methods, requests with an ``Idempotency-Key``; not a POST or a
PATCH that went out whole, since the server may have acted on it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from tests.servers.raw import RawServer, raw_server, read_request, response
from tests.transport.transport_helpers import send

from netstack import HttpError
from netstack.transport import Transport

pytestmark = pytest.mark.timeout(60)


class _Server:
    def __init__(self, raw: RawServer, log: list[tuple[int, str]]) -> None:
        self.raw = raw
        self.log = log

    def seen(self, path: str) -> list[int]:
        """The connections ``path`` arrived on."""
        return [index for index, p in self.log if p == path]


@pytest.fixture
def server() -> Iterator[_Server]:
    log: list[tuple[int, str]] = []
    lock = threading.Lock()

    def handler(conn: socket.socket, index: int) -> None:
        for count in range(100):
            head = read_request(conn)
            if not head:
                return
            request_line, _, rest = head.partition(b"\r\n")
            method, path, _ = request_line.decode().split(" ", 2)
            with lock:
                log.append((index, path))
            if index == 0 and count == 1:
                conn.close()  # read it, answer nothing
                return
            body = rest.partition(b"\r\n\r\n")[2]
            conn.sendall(response(f"{method} {path} {body.decode()}".encode()))

    with raw_server(handler) as raw:
        yield _Server(raw, log)


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(max_per_host=1)
    yield t
    t.close()


def _after_warm_up(transport: Transport, server: _Server, method: str, **kwargs: object) -> bytes:
    assert send(transport, server.raw.url("/warm")).body == b"GET /warm "
    return send(transport, server.raw.url("/x"), method, **kwargs).body


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_idempotent_requests_are_sent_again_once(
    transport: Transport, server: _Server, method: str
) -> None:
    body = _after_warm_up(transport, server, method)
    assert body == (b"" if method == "HEAD" else f"{method} /x ".encode())
    assert server.seen("/x") == [0, 1]


def test_a_put_with_a_body_is_sent_again_with_it(transport: Transport, server: _Server) -> None:
    assert _after_warm_up(transport, server, "PUT", body=b"payload") == b"PUT /x payload"
    assert server.seen("/x") == [0, 1]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_post_that_went_out_whole_is_not_sent_again(
    transport: Transport, server: _Server, method: str
) -> None:
    with pytest.raises(HttpError) as caught:
        _after_warm_up(transport, server, method, body=b"order=1")
    assert caught.value.code == 2300052
    assert server.seen("/x") == [0]  # the server got it once, and only once


def test_a_post_with_an_idempotency_key_is_sent_again(
    transport: Transport, server: _Server
) -> None:
    body = _after_warm_up(
        transport, server, "POST", body=b"order=1", headers={"Idempotency-Key": "k-1"}
    )
    assert body == b"POST /x order=1"
    assert server.seen("/x") == [0, 1]


def test_a_streamed_body_is_never_sent_again(transport: Transport, server: _Server) -> None:
    with pytest.raises(HttpError) as caught:
        _after_warm_up(transport, server, "PUT", body=iter([b"a", b"b"]), body_size=2)
    assert caught.value.code == 2300052
    assert server.seen("/x") == [0]
