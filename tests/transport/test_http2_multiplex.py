"""HTTP/2 multiplexing: many streams on one connection, each failing alone.

Peers: hypercorn (a real HTTP/2 server; its app counts the client ports it
saw, i.e. connections, and the requests in flight at once) and the raw
``h2`` server of tests/servers/h2_raw.py for what hypercorn will not do on
demand (GOAWAY mid-run, REFUSED_STREAM, RST_STREAM, a dropped connection, a
16 KiB window).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trustme
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests.servers.h2_raw import Behaviour, RawH2, raw_h2_server
from tests.servers.proxy_server import proxy_server
from tls_helpers import H2Server, h2_server
from transport_helpers import abort_after, send

import netstack
from netstack.errors import (
    ABORTED,
    EMPTY_REPLY,
    HTTP2_FRAMING,
    MAX_SIZE_EXCEEDED,
    PARTIAL_FILE,
    TIMEOUT,
    HttpError,
)
from netstack.options import HttpProtocol, HttpProxy
from netstack.transport import AbortSignal, Transport

H2 = HttpProtocol.HTTP2
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def h2(ca: trustme.CA, tmp_path: Path) -> Iterator[H2Server]:
    """A fresh hypercorn per test, so its connection count is this test's."""
    with h2_server(ca, tmp_path) as server:
        yield server


@pytest.fixture
def wide() -> Iterator[Transport]:
    t = Transport(max_per_host=50)
    yield t
    t.close()


def _parallel(count: int, one: object) -> list[object]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))  # type: ignore[arg-type]


def test_twenty_concurrent_requests_share_one_connection(
    wide: Transport, h2: H2Server, ca_file: str
) -> None:
    """Each request is answered only once all 20 are in flight at the server
    (``hold=20``): they ran at once, so they end in about one request's time."""

    def one(i: int) -> tuple[int, str]:
        resp = send(wide, f"{h2.url}/r{i}?hold=20&ms=100", ca_path=ca_file, protocol=H2)
        return resp.status, resp.http_version

    assert _parallel(20, one) == [(200, "HTTP/2")] * 20
    assert h2.peak == 20
    assert len(h2.clients) == 1


def test_scheduler_max_per_host_counts_streams_not_connections(h2: H2Server, ca_file: str) -> None:
    options = netstack.HttpRequestOptions(using_protocol=H2, ca_path=ca_file)
    with netstack.Scheduler(max_workers=20, max_per_host=20) as scheduler:
        futures = [scheduler.submit(f"{h2.url}/s{i}?hold=20", options) for i in range(20)]
        statuses = [f.result(timeout=60).response_code for f in futures]
    assert statuses == [200] * 20
    assert h2.peak == 20
    assert len(h2.clients) == 1


def test_one_aborted_stream_leaves_the_others_running(
    wide: Transport, h2: H2Server, ca_file: str
) -> None:
    signals = [AbortSignal() for _ in range(6)]

    def one(i: int) -> object:
        try:
            return send(
                wide, f"{h2.url}/a{i}?ms=1500", ca_path=ca_file, protocol=H2, abort=signals[i]
            ).status
        except HttpError as exc:
            return exc.code, time.monotonic()

    abort_after(signals[0], 0.3)
    started = time.monotonic()
    results = _parallel(6, one)
    code, ended = results[0]  # type: ignore[misc]
    assert code == ABORTED
    assert ended - started < 1.3  # well before its 1.5 s answer: the abort woke it
    assert results[1:] == [200] * 5
    assert len(h2.clients) == 1  # the abort reset a stream, not the connection


def test_a_stream_timeout_fails_that_stream_only(
    wide: Transport, h2: H2Server, ca_file: str
) -> None:
    def one(i: int) -> object:
        try:
            return send(
                wide,
                f"{h2.url}/t{i}?ms={3000 if i == 0 else 300}",
                ca_path=ca_file,
                protocol=H2,
                read_timeout=1.0 if i == 0 else 30.0,
            ).status
        except HttpError as exc:
            return exc.code

    assert _parallel(5, one) == [TIMEOUT, 200, 200, 200, 200]
    assert len(h2.clients) == 1


def test_download_of_50_mib_shares_the_connection_with_small_requests(
    wide: Transport, h2: H2Server, ca_file: str
) -> None:
    """Per-stream and connection flow control: the big body streams through our
    1 MiB window while small requests on the same connection complete."""

    class Counting:
        received = 0

        def headers(self, headers: object) -> None:
            pass

        def data(self, chunk: bytes) -> None:
            self.received += len(chunk)

        def receive_progress(self, received: int, total: int) -> None:
            pass

        def send_progress(self, sent: int, total: int) -> None:
            pass

    sink = Counting()

    def one(i: int) -> int:
        if i == 0:
            url = f"{h2.url}/big?n={50 * MIB}"
            return send(wide, url, ca_path=ca_file, protocol=H2, stream=True, sink=sink).status
        time.sleep(0.05 * i)
        return send(wide, f"{h2.url}/small{i}", ca_path=ca_file, protocol=H2).status

    assert _parallel(11, one) == [200] * 11
    assert sink.received == 50 * MIB
    assert len(h2.clients) == 1


@pytest.fixture
def raw(ca: trustme.CA, request: pytest.FixtureRequest) -> Iterator[RawH2]:
    behaviour = getattr(request, "param", Behaviour())
    with raw_h2_server(ca, behaviour) as server:
        yield server


@pytest.mark.parametrize("raw", [Behaviour(goaway_after=5)], indirect=True)
def test_goaway_mid_run_loses_no_request(wide: Transport, raw: RawH2, ca_file: str) -> None:
    """The server takes 5 streams, says GOAWAY and finishes those 5; the others
    (POSTs too: the server never processed them) go again on a new connection."""

    def one(i: int) -> str:
        method = "POST" if i % 2 else "GET"
        body = b"x" * 100 if method == "POST" else None
        resp = send(
            wide,
            f"{raw.url}/g{i}?ms=200",
            method,
            body=body,
            body_size=len(body or b""),
            ca_path=ca_file,
            protocol=H2,
        )
        assert resp.status == 200
        return str(json.loads(resp.body)["path"])

    paths = _parallel(20, one)
    assert paths == [f"/g{i}?ms=200" for i in range(20)]
    assert Counter(raw.processed) == Counter(paths)  # each processed exactly once
    assert raw.goaways == 1
    assert raw.connections >= 2


@pytest.mark.parametrize("raw", [Behaviour(refuse_first=3)], indirect=True)
def test_refused_streams_are_sent_again(wide: Transport, raw: RawH2, ca_file: str) -> None:
    def one(i: int) -> int:
        return send(wide, f"{raw.url}/f{i}", "POST", body=b"p", body_size=1,
                    ca_path=ca_file, protocol=H2).status  # fmt: skip

    assert _parallel(6, one) == [200] * 6
    assert raw.refused == 3
    assert sorted(raw.processed) == sorted(f"/f{i}" for i in range(6))


def test_a_reset_stream_fails_alone(wide: Transport, raw: RawH2, ca_file: str) -> None:
    def one(i: int) -> object:
        path = "/rst" if i == 0 else f"/ok{i}?ms=300"
        try:
            return send(wide, raw.url + path, ca_path=ca_file, protocol=H2).status
        except HttpError as exc:
            return exc.code

    assert _parallel(5, one) == [HTTP2_FRAMING, 200, 200, 200, 200]
    assert raw.connections == 1


def test_a_dropped_connection_fails_only_its_streams(
    wide: Transport, raw: RawH2, ca_file: str
) -> None:
    """POSTs in flight when the connection drops get the empty-reply code (they
    may have been processed, so they are not sent again); the next request
    opens a new connection."""
    started = threading.Barrier(4)

    def one(i: int) -> object:
        started.wait(10)
        path = "/die?ms=300" if i == 0 else f"/p{i}?ms=5000"
        try:
            return send(
                wide, raw.url + path, "POST", body=b"p", body_size=1, ca_path=ca_file, protocol=H2
            ).status
        except HttpError as exc:
            return exc.code

    assert _parallel(4, one) == [EMPTY_REPLY] * 4
    assert send(wide, raw.url + "/after", ca_path=ca_file, protocol=H2).status == 200
    assert raw.connections == 2


@pytest.mark.slow
@pytest.mark.parametrize("raw", [Behaviour(window=16 * 1024)], indirect=True)
def test_upload_of_50_mib_through_a_16_kib_window(
    wide: Transport, raw: RawH2, ca_file: str
) -> None:
    body = b"u" * (50 * MIB)
    resp = send(
        wide, raw.url + "/up", "POST", body=body, body_size=len(body), ca_path=ca_file, protocol=H2
    )
    assert json.loads(resp.body) == {"received": 50 * MIB}


@pytest.mark.parametrize("raw", [Behaviour(max_streams=10)], indirect=True)
def test_streams_beyond_the_servers_limit_open_a_second_connection(
    wide: Transport, raw: RawH2, ca_file: str
) -> None:
    def one(i: int) -> int:
        return send(wide, f"{raw.url}/m{i}?ms=500", ca_path=ca_file, protocol=H2).status

    assert _parallel(20, one) == [200] * 20
    assert raw.connections == 2


def test_max_limit_on_one_stream_leaves_the_others_running(
    wide: Transport, h2: H2Server, ca_file: str
) -> None:
    def one(i: int) -> object:
        try:
            if i == 0:
                url = f"{h2.url}/big?n={20 * MIB}"
                return send(wide, url, ca_path=ca_file, protocol=H2, max_body=MIB).status
            return send(wide, f"{h2.url}/s{i}?ms=500", ca_path=ca_file, protocol=H2).status
        except HttpError as exc:
            return exc.code

    assert _parallel(5, one) == [MAX_SIZE_EXCEEDED, 200, 200, 200, 200]
    assert len(h2.clients) == 1


def test_request_in_stream_events_over_multiplexed_http2(h2: H2Server, ca_file: str) -> None:
    """The public streaming API: dataReceive chunks and progress, four streams at once."""
    options = netstack.HttpRequestOptions(using_protocol=H2, ca_path=ca_file)
    received: list[int] = []
    progress: list[int] = []
    lock = threading.Lock()

    def data(chunk: bytes) -> None:
        with lock:
            received.append(len(chunk))

    with netstack.Scheduler(max_workers=4, max_per_host=4) as scheduler:
        futures = []
        for i in range(4):
            http = netstack.create_http(scheduler)  # one HttpRequest per request
            http.on("dataReceive", data)
            http.on("dataReceiveProgress", lambda info: progress.append(info.receive_size))
            futures.append(http.request_in_stream(f"{h2.url}/st{i}?n={3 * MIB}&hold=4", options))
        codes = [f.result(timeout=60) for f in futures]
    assert codes == [200] * 4
    assert sum(received) == 4 * 3 * MIB
    assert max(progress) == 3 * MIB
    assert h2.peak == 4
    assert len(h2.clients) == 1


@pytest.mark.parametrize("raw", [Behaviour(goaway_after=1, linger=True)], indirect=True)
def test_after_a_goaway_the_client_closes_the_drained_connection(
    wide: Transport, raw: RawH2, ca_file: str
) -> None:
    assert send(wide, raw.url + "/only", ca_path=ca_file, protocol=H2).status == 200
    deadline = time.monotonic() + 10
    while raw.client_closed == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert raw.client_closed == 1  # closed by us, not left open until the pool closes
    assert send(wide, raw.url + "/next", ca_path=ca_file, protocol=H2).status == 200
    assert raw.connections == 2


def test_a_body_cut_by_a_dropped_connection_is_a_partial_transfer(
    wide: Transport, raw: RawH2, ca_file: str
) -> None:
    with pytest.raises(HttpError) as info:
        send(wide, raw.url + "/cut/20000", ca_path=ca_file, protocol=H2)
    assert info.value.code == PARTIAL_FILE
    assert send(wide, raw.url + "/after", ca_path=ca_file, protocol=H2).status == 200


def test_a_stalled_reader_does_not_stall_the_other_streams(
    wide: Transport, h2: H2Server, ca_file: str
) -> None:
    """Our windows are handed back as the consumer reads: a stream whose consumer
    stops holds at most its own window, never the connection's."""
    release = threading.Event()
    others_done = threading.Event()

    class Stalling:
        received = 0

        def headers(self, headers: object) -> None:
            pass

        def data(self, chunk: bytes) -> None:
            self.received += len(chunk)
            release.wait(30)  # the consumer stops after its first chunk

        def receive_progress(self, received: int, total: int) -> None:
            pass

        def send_progress(self, sent: int, total: int) -> None:
            pass

    sink = Stalling()

    def one(i: int) -> int:
        if i == 0:
            url = f"{h2.url}/big?n={30 * MIB}"
            return send(wide, url, ca_path=ca_file, protocol=H2, stream=True, sink=sink).status
        time.sleep(0.3)  # the big stream has filled its window by now
        statuses = [
            send(wide, f"{h2.url}/n{i}-{j}?n=200000", ca_path=ca_file, protocol=H2).status
            for j in range(5)
        ]
        if i == 5:
            others_done.set()
        return statuses[-1]

    def release_later() -> None:
        others_done.wait(30)
        release.set()

    threading.Thread(target=release_later, daemon=True).start()
    assert _parallel(6, one) == [200] * 6
    assert others_done.is_set()  # they finished while the big one was stalled
    assert sink.received == 30 * MIB
    assert len(h2.clients) == 1


def test_streams_share_one_tunnel_through_a_proxy(
    wide: Transport, h2: H2Server, ca_file: str, tmp_path: Path
) -> None:
    with proxy_server(tmp_path) as proxy:
        via = HttpProxy("127.0.0.1", proxy.port)

        def one(i: int) -> tuple[int, str]:
            resp = send(wide, f"{h2.url}/x{i}?hold=8", ca_path=ca_file, protocol=H2, proxy=via)
            return resp.status, resp.http_version

        assert _parallel(8, one) == [(200, "HTTP/2")] * 8
        assert [line.split()[0] for line in proxy.seen()] == ["CONNECT"]
    assert len(h2.clients) == 1


def test_closing_the_transport_closes_its_http2_connections(raw: RawH2, ca_file: str) -> None:
    """urllib3's PoolManager.clear() leaves pools to the garbage collector; the
    shared connection and its reader thread must go at close()."""
    transport = Transport(max_per_host=4)
    assert send(transport, raw.url + "/one", ca_path=ca_file, protocol=H2).status == 200
    readers = [t for t in threading.enumerate() if t.name == "netstack-h2-reader"]
    transport.close()
    deadline = time.monotonic() + 10
    while raw.client_closed == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert raw.client_closed == 1
    for reader in readers:
        reader.join(5)
    assert not any(t.is_alive() for t in readers)


@pytest.mark.parametrize("raw", [Behaviour(max_streams=2)], indirect=True)
def test_a_response_before_the_whole_upload_ends_the_upload(
    wide: Transport, raw: RawH2, ca_file: str
) -> None:
    """The server answers before reading the body: the rest is not sent and the
    stream is reset, so it does not count against the server's 2 streams."""
    body = b"u" * (5 * MIB)
    for _ in range(5):
        resp = send(
            wide, raw.url + "/early", "POST", body=body, body_size=len(body),
            ca_path=ca_file, protocol=H2,
        )  # fmt: skip
        assert resp.status == 200
    assert raw.connections == 1


@pytest.fixture(scope="module")
def shared_raw(ca: trustme.CA) -> Iterator[RawH2]:
    with raw_h2_server(ca) as server:
        yield server


_KIND = st.one_of(
    st.tuples(st.just("get"), st.integers(0, 300_000)),
    st.tuples(st.just("post"), st.integers(0, 300_000)),
    st.tuples(st.just("rst"), st.just(0)),
    st.tuples(st.just("abort"), st.just(0)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(_KIND, min_size=1, max_size=10))
@example(kinds=[("get", 65_537)])  # once cut to 65,536: urllib3 over-read a short read(amt)
def test_any_mix_of_streams_each_ends_as_its_own_kind_says(
    shared_raw: RawH2, ca_file: str, kinds: list[tuple[str, int]]
) -> None:
    """Bodies of any size both ways, resets and aborts, all at once on one
    connection: every stream gets its own outcome, whatever the interleaving."""
    transport = Transport(max_per_host=10)
    before = shared_raw.connections

    def one(i: int) -> object:
        kind, size = kinds[i]
        abort = AbortSignal()
        try:
            if kind == "get":
                resp = send(transport, f"{shared_raw.url}/n/{size}", ca_path=ca_file,
                            protocol=H2)  # fmt: skip
                return len(resp.body)
            if kind == "post":
                body = b"p" * size
                resp = send(transport, f"{shared_raw.url}/up", "POST", body=body,
                            body_size=size, ca_path=ca_file, protocol=H2)  # fmt: skip
                return json.loads(resp.body)["received"]
            if kind == "abort":
                abort_after(abort, 0.1)
            path = "/rst" if kind == "rst" else "/hang?ms=5000"
            return send(transport, shared_raw.url + path, ca_path=ca_file, protocol=H2,
                        abort=abort).status  # fmt: skip
        except HttpError as exc:
            return exc.code

    try:
        results = _parallel(len(kinds), one)
    finally:
        transport.close()
    expected = [{"rst": HTTP2_FRAMING, "abort": ABORTED}.get(kind, size) for kind, size in kinds]
    assert results == expected
    assert shared_raw.connections - before == 1
