"""Faulty servers, through the public API: each ends with its documented HttpError.

Every test sends ``/fault`` to a real loopback server that misbehaves in one
way, on a one-worker scheduler with 1.5 s connect and read timeouts, then
sends ``/ok`` on the same scheduler. Each pins four things:

1. the request ends with its documented code (table in docs/reliability.md)
   and the seed's message, as an ``HttpError`` (never a bare exception), and
   the callback receives that same error;
2. it ends within the configured timeout + 10 % + a fixed 0.5 s of slack for
   CI noise (``within``): a bound on a hang, not a latency target;
3. the worker survives: the follow-up succeeds on the same single worker;
4. the faulty connection is discarded: the follow-up arrives on a new one.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from tests.faults.fault_harness import (
    TIMEOUT_MS,
    Outcome,
    Served,
    assert_survived,
    fault_server,
    run_fault,
    within,
)
from tests.servers.raw import raw_server, reset, response

from netstack import errors

pytestmark = pytest.mark.timeout(60)


def check(served: Served, outcome: Outcome, code: int, timeout_ms: int = TIMEOUT_MS) -> None:
    assert outcome.error.code == code, str(outcome.error)
    assert within(outcome.elapsed, timeout_ms), f"took {outcome.elapsed:.2f} s"
    assert_survived(outcome)
    (faulty,) = served.connection_of(b"/fault")
    assert served.connection_of(b"/ok") != [faulty], "the faulty connection was reused"


def fault_and_follow_up(fault, **options: object) -> tuple[Served, Outcome]:  # type: ignore[no-untyped-def]
    with fault_server(fault) as served:
        outcome = run_fault(served.url("/fault"), served.url("/ok"), dict(options))
    return served, outcome


# -- the connection breaks -------------------------------------------------------------


def test_reset_mid_body_is_2300056() -> None:
    """RST after 1000 of 100000 announced bytes: curl's 56, receive failed."""

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        time.sleep(0.05)
        reset(conn)

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.RECEIVE_FAILED)


def test_empty_reply_is_2300052() -> None:
    """The server reads the request and closes without a byte: curl's 52."""
    served, outcome = fault_and_follow_up(lambda conn: conn.close())
    check(served, outcome, errors.EMPTY_REPLY)


# -- the server says something that is not HTTP -----------------------------------------


@pytest.mark.parametrize(
    "status_line",
    [b"SPDY/9 lol\r\n\r\n", b"\x00\x01\x02\xff garbage\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n"],
    ids=["other-protocol", "binary", "non-numeric-status"],
)
def test_garbage_status_line_is_2300008(status_line: bytes) -> None:
    served, outcome = fault_and_follow_up(lambda conn: conn.sendall(status_line))
    check(served, outcome, errors.BAD_SERVER_RESPONSE)


def test_one_mib_header_line_is_2300008() -> None:
    """http.client refuses a header line over 64 KiB (LineTooLong)."""

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n")
        conn.sendall(b"Content-Length: 2\r\n\r\nok")

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.BAD_SERVER_RESPONSE)


def test_one_mib_of_small_headers_is_2300008() -> None:
    """10,000 headers of about 100 bytes: http.client stops after 100 headers."""
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 100) for i in range(10_000))

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok")

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.BAD_SERVER_RESPONSE)


def test_one_mib_of_headers_under_the_count_and_line_limits_is_2300008() -> None:
    """18 lines of 60,000 bytes pass both http.client limits; the block's size must not."""
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 60_000) for i in range(18))

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok")

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.BAD_SERVER_RESPONSE)


# -- the body does not match its framing ------------------------------------------------


def test_content_length_longer_than_the_body_is_2300018() -> None:
    """100 bytes announced, 5 sent, then FIN: a partial file (curl's 18)."""

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        conn.close()

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.PARTIAL_FILE)


def test_content_length_longer_than_the_body_then_silence_is_2300028() -> None:
    """100 bytes announced, 5 sent, connection left open: the read timeout ends it."""

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.TIMEOUT)


@pytest.mark.parametrize(
    "excess",
    [b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned", b"p" * 200_000],
    ids=["a-whole-response", "200-kB-of-excess"],
)
def test_content_length_shorter_than_the_body_never_becomes_a_response(excess: bytes) -> None:
    """5 bytes announced, more sent: the response is the 5 bytes; the excess is dropped.

    RFC 9112 §6.3: a client MUST NOT process extra data after a response as a
    separate response (https://www.rfc-editor.org/rfc/rfc9112#section-6.3).
    The connection may be reused only once nothing of the excess is left.
    """
    import netstack
    from netstack import Scheduler

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + excess)

    with fault_server(fault) as served, Scheduler(max_workers=1, name="excess") as scheduler:
        opts = {"readTimeout": TIMEOUT_MS, "usingCache": False}
        first = netstack.create_http(scheduler).request(served.url("/fault"), opts).result(30)
        time.sleep(0.1)
        second = netstack.create_http(scheduler).request(served.url("/ok"), opts).result(30)
    assert (first.response_code, first.result) == (200, "hello")
    assert (second.response_code, second.result) == (200, "fresh")


def test_content_length_shorter_than_the_body_excess_arriving_later_is_dropped() -> None:
    """The excess arrives after the response was complete: the idle connection is dropped."""
    import netstack
    from netstack import Scheduler

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        time.sleep(0.2)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\npoisoned")

    with fault_server(fault) as served, Scheduler(max_workers=1, name="late") as scheduler:
        opts = {"readTimeout": TIMEOUT_MS, "usingCache": False}
        first = netstack.create_http(scheduler).request(served.url("/fault"), opts).result(30)
        time.sleep(0.5)
        second = netstack.create_http(scheduler).request(served.url("/ok"), opts).result(30)
    assert first.result == "hello"
    assert second.result == "fresh"
    (faulty,) = served.connection_of(b"/fault")
    assert served.connection_of(b"/ok") != [faulty]


@pytest.mark.parametrize(
    "chunked",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # a size that is not hex
        b"5\r\nab",  # a chunk cut short, then FIN
        b"5\r\nabcde\r\n",  # no last chunk, then FIN
        b"5\r\nabcdefghij\r\n0\r\n\r\n",  # a chunk longer than its size
    ],
    ids=["bad-size", "cut-chunk", "no-last-chunk", "overlong-chunk"],
)
def test_broken_chunked_encoding_is_2300018(chunked: bytes) -> None:
    """Every broken chunked body is a partial transfer (2300018).

    One code for all: the body the framing promised never arrived whole,
    which is what 18 says. (curl reports an unparsable size line as 56; the
    transport maps urllib3's InvalidChunkLength, an IncompleteRead, to 18.)
    """

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        conn.close()

    served, outcome = fault_and_follow_up(fault)
    check(served, outcome, errors.PARTIAL_FILE)


# -- the server is slow ----------------------------------------------------------------


def test_accept_then_never_answer_is_2300028() -> None:
    served, outcome = fault_and_follow_up(lambda conn: None)
    check(served, outcome, errors.TIMEOUT)


def test_one_byte_per_second_drip_past_the_read_timeout_is_2300028() -> None:
    """1 B/s with an 800 ms read timeout: the gap between bytes exceeds it."""

    def fault(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
            conn.sendall(bytes([byte]))
            time.sleep(1)

    served, outcome = fault_and_follow_up(fault, readTimeout=800)
    check(served, outcome, errors.TIMEOUT, timeout_ms=800)


def test_a_drip_inside_the_read_timeout_is_ended_by_destroy() -> None:
    """read_timeout bounds each wait, not the transfer: a drip of one
    byte per 200 ms never trips 1.5 s; ``destroy()`` ends it (2300042) within 1 s."""
    import netstack
    from netstack import HttpError, Scheduler

    def fault(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(0.2)

    with fault_server(fault) as served, Scheduler(max_workers=1, name="drip") as scheduler:
        task = netstack.create_http(scheduler)
        future = task.request(served.url("/fault"), {"readTimeout": TIMEOUT_MS})
        time.sleep(2 * TIMEOUT_MS / 1000)  # longer than the read timeout: still running
        assert not future.done()
        started = time.monotonic()
        task.destroy()
        error = future.exception(timeout=5)
        elapsed = time.monotonic() - started
        follow_up = netstack.create_http(scheduler).request(served.url("/ok")).result(30)
    assert isinstance(error, HttpError)
    assert error.code == errors.ABORTED
    assert elapsed < 1.0
    assert follow_up.result == "fresh"


# -- redirects, TLS, compression ---------------------------------------------------------


@pytest.mark.parametrize("max_redirects", [5, 30])
def test_redirect_loop_is_2300047(max_redirects: int) -> None:
    served, outcome = fault_and_follow_up(
        lambda conn: conn.sendall(
            response(b"", status="302 Found", headers="Location: /fault\r\n")
        ),
        maxRedirects=max_redirects,
    )
    assert outcome.error.code == errors.TOO_MANY_REDIRECTS
    assert within(outcome.elapsed)
    assert_survived(outcome)
    assert len(served.connection_of(b"/fault")) == max_redirects + 1


#: 16 gzip members of 64 MiB of zeros each: 1 GiB decoded, about 1 MB on the wire.
_MEMBER = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
BOMB = _MEMBER * 16


def test_gzip_bomb_is_2300063_and_stops_early() -> None:
    """1 GiB of zeros in ~1 MB of gzip, max_limit 1 MiB: 2300063, and the
    decoded bytes ever held stay near the limit (urllib3 decodes chunk by chunk)."""
    import tracemalloc

    def fault(conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
        conn.sendall(head % len(BOMB) + BOMB)

    tracemalloc.start()
    try:
        served, outcome = fault_and_follow_up(fault, maxLimit=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check(served, outcome, errors.MAX_SIZE_EXCEEDED)
    assert peak < 32 << 20, f"peak traced memory {peak >> 20} MiB"


# -- TLS -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server_context(ca: trustme.CA, name: str = "127.0.0.1") -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    return context


def _ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def good_tls(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[Served, str]]:
    """A healthy HTTPS server for the follow-ups, and the CA file that trusts it."""
    with fault_server(lambda conn: None, tls=_tls_server_context(ca)) as served:
        yield served, _ca_file(ca, tmp_path)


def _tls_fault(bad_url: str, good: tuple[Served, str], options: dict[str, object]) -> Outcome:
    served, ca_path = good
    return run_fault(
        bad_url, served.url("/ok", "https"), options, ok_options={"caPath": ca_path}, name="tls"
    )


def test_tls_unknown_issuer_is_2300060(good_tls: tuple[Served, str]) -> None:
    """A certificate from a CA that certifi's bundle does not hold."""
    with fault_server(lambda conn: None, tls=_tls_server_context(trustme.CA())) as bad:
        outcome = _tls_fault(bad.url("/fault", "https"), good_tls, {})
    assert outcome.error.code == errors.PEER_CERT
    assert within(outcome.elapsed)
    assert_survived(outcome)
    assert bad.log == [], "a request went out before the certificate was verified"


def test_tls_certificate_for_another_name_is_2300060(
    ca: trustme.CA, good_tls: tuple[Served, str]
) -> None:
    context = _tls_server_context(ca, "other.example")
    with fault_server(lambda conn: None, tls=context) as bad:
        outcome = _tls_fault(bad.url("/fault", "https"), good_tls, {"caPath": good_tls[1]})
    assert outcome.error.code == errors.PEER_CERT
    assert within(outcome.elapsed)
    assert_survived(outcome)
    assert bad.log == []


def test_tls_handshake_answered_in_plaintext_is_2300999(good_tls: tuple[Served, str]) -> None:
    """An http server on the https port: the handshake fails (curl's 35, not in the
    seed's table, so the transport reports 2300999 with the SSL reason)."""

    def handler(conn: socket.socket, _: int) -> None:
        conn.recv(65536)
        conn.sendall(response(b"plaintext", status="400 Bad Request"))

    with raw_server(handler) as bad:
        outcome = _tls_fault(bad.url("/fault", "https"), good_tls, {})
    assert outcome.error.code == errors.UNKNOWN
    assert "SSL" in str(outcome.error)
    assert within(outcome.elapsed)
    assert_survived(outcome)


def test_tls_handshake_cut_by_the_server(good_tls: tuple[Served, str]) -> None:
    """The server reads the ClientHello and closes: a receive failure (2300056)."""

    def handler(conn: socket.socket, _: int) -> None:
        conn.recv(65536)
        conn.close()

    with raw_server(handler) as bad:
        outcome = _tls_fault(bad.url("/fault", "https"), good_tls, {})
    assert outcome.error.code == errors.RECEIVE_FAILED
    assert within(outcome.elapsed)
    assert_survived(outcome)


def test_tls_handshake_never_answered_is_2300028(good_tls: tuple[Served, str]) -> None:
    """The server accepts and says nothing: the handshake waits one read timeout."""

    def handler(conn: socket.socket, _: int) -> None:
        conn.recv(65536)
        conn.recv(1)

    with raw_server(handler) as bad:
        outcome = _tls_fault(bad.url("/fault", "https"), good_tls, {})
    assert outcome.error.code == errors.TIMEOUT
    assert within(outcome.elapsed)
    assert_survived(outcome)
