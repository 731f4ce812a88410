"""Plain-HTTP sockets hand their timeouts to the kernel (Linux): same limits, fewer syscalls."""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest

from netstack.transport.kernel_timeouts import KernelTimedSocket

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(sys.platform != "linux", reason="kernel timeouts are used on Linux only"),
]


def _connected_pair(timeout: float | None) -> tuple[KernelTimedSocket, socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = KernelTimedSocket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(timeout)
    client.connect(server.getsockname())
    peer, _ = server.accept()
    server.close()
    return client, peer


def test_connected_socket_is_blocking_with_the_limit_in_the_kernel() -> None:
    client, peer = _connected_pair(0.3)
    with client, peer:
        assert client.gettimeout() == 0.3
        assert socket.socket.gettimeout(client) is None  # blocking: no poll before recv
        raw = client.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        assert raw != bytes(16)


_READS = {
    "recv": lambda s: s.recv(10),
    "recv_into": lambda s: s.recv_into(bytearray(10)),
    "makefile": lambda s: s.makefile("rb").readline(),  # how http.client reads
}


@pytest.mark.parametrize("read", sorted(_READS))
def test_a_silent_peer_times_out_as_a_python_timeout_would(read: str) -> None:
    client, peer = _connected_pair(0.3)
    with client, peer:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _READS[read](client)
        assert 0.25 <= time.monotonic() - started < 2.0


def test_data_arriving_before_the_limit_is_read_and_the_limit_can_change() -> None:
    client, peer = _connected_pair(1.0)
    with client, peer:
        threading.Timer(0.1, lambda: peer.sendall(b"hello")).start()
        assert client.recv(10) == b"hello"
        client.settimeout(0.2)
        assert client.gettimeout() == 0.2
        with pytest.raises(TimeoutError):
            client.recv(10)
        client.settimeout(None)  # no limit: a blocking read that the peer's close ends
        threading.Timer(0.1, peer.shutdown, args=(socket.SHUT_WR,)).start()
        assert client.recv(10) == b""


def test_shutdown_from_another_thread_ends_a_blocked_read() -> None:
    """The AbortSignal shuts sockets down to interrupt them; a blocking recv must return."""
    client, peer = _connected_pair(None)
    with client, peer:
        threading.Timer(0.1, client.shutdown, args=(socket.SHUT_RDWR,)).start()
        started = time.monotonic()
        assert client.recv(10) == b""
        assert time.monotonic() - started < 2.0


def test_plain_http_connections_use_it_and_tls_ones_do_not() -> None:
    from netstack.transport.connection import TimedHTTPConnection, TimedHTTPSConnection

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    port = server.getsockname()[1]
    from netstack.transport.connection import _open_socket
    from netstack.transport.context import RequestContext
    from netstack.transport.exchange import AbortSignal

    ctx = RequestContext(time.perf_counter(), AbortSignal())
    plain = TimedHTTPConnection("127.0.0.1", port, timeout=5.0)
    secure = TimedHTTPSConnection("127.0.0.1", port, timeout=5.0)
    with server, _open_socket(plain, ctx) as a, _open_socket(secure, ctx) as b:
        assert type(a) is KernelTimedSocket
        assert type(b) is socket.socket
        assert b.gettimeout() == 5.0


def test_a_peer_that_stops_reading_makes_sendall_time_out() -> None:
    client, peer = _connected_pair(0.3)
    with client, peer:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.sendall(b"x" * (64 * 1024 * 1024))  # far beyond both socket buffers
        assert time.monotonic() - started < 5.0
