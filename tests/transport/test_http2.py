"""HTTP/2 by ALPN, per pool, with a fallback to HTTP/1.1 (seed: usingProtocol).

The peer is hypercorn serving TLS on 127.0.0.1; its ASGI app records the
``http_version`` of every request it saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import trustme
from tls_helpers import H2Server, h2_server
from transport_helpers import RecordingSink, send

import netstack
from netstack.errors import MAX_SIZE_EXCEEDED, HttpError
from netstack.options import HttpProtocol
from netstack.transport import Transport
from netstack.transport.priority import urgency

H2 = HttpProtocol.HTTP2


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def h2(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[H2Server]:
    with h2_server(ca, tmp_path_factory.mktemp("h2")) as server:
        yield server


def test_http2_is_negotiated_and_the_server_sees_it(
    transport: Transport, h2: H2Server, ca_file: str
) -> None:
    resp = send(transport, h2.url + "/hello", ca_path=ca_file, protocol=H2)
    assert resp.status == 200
    assert resp.http_version == "HTTP/2"
    assert json.loads(resp.body)["version"] == "2"
    assert h2.versions[-1] == "2"
    t = resp.timings
    assert 0 < t.dns <= t.tcp <= t.tls <= t.first_send <= t.first_receive <= t.total_finish


def test_http3_falls_back_to_http2_on_https(
    transport: Transport, h2: H2Server, ca_file: str
) -> None:
    resp = send(transport, h2.url + "/", ca_path=ca_file, protocol=HttpProtocol.HTTP3)
    assert (resp.http_version, h2.versions[-1]) == ("HTTP/2", "2")


def test_default_and_http1_stay_on_http11_even_alongside_http2(
    transport: Transport, h2: H2Server, ca_file: str
) -> None:
    """HTTP/2 is chosen per pool: concurrent HTTP/1.1 requests are unaffected."""

    def one(i: int) -> tuple[str, str]:
        protocol = H2 if i % 2 else (None if i % 4 == 0 else HttpProtocol.HTTP1_1)
        resp = send(transport, f"{h2.url}/r{i}", ca_path=ca_file, protocol=protocol)
        return resp.http_version, json.loads(resp.body)["version"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(16)))
    for i, (client_saw, server_saw) in enumerate(results):
        expected = ("HTTP/2", "2") if i % 2 else ("HTTP/1.1", "1.1")
        assert (client_saw, server_saw) == expected


def test_falls_back_to_http11_when_the_server_offers_only_it(
    transport: Transport,
    ca: trustme.CA,
    ca_file: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with h2_server(ca, tmp_path, alpn=("http/1.1",)) as only_h1:
        resp = send(transport, only_h1.url + "/", ca_path=ca_file, protocol=H2)
        again = send(transport, only_h1.url + "/", ca_path=ca_file, protocol=H2)
        transport.close()  # let the peer shut down without waiting for keep-alive
    assert (resp.http_version, again.http_version) == ("HTTP/1.1", "HTTP/1.1")
    assert only_h1.versions == ["1.1", "1.1"]
    # The fallback is a DEBUG event of the "netstack" logger: silent unless enabled
    # (it once went through unconfigured structlog, which prints to stdout).
    assert capsys.readouterr().out == ""


def test_http2_connection_is_reused(transport: Transport, h2: H2Server, ca_file: str) -> None:
    first = send(transport, h2.url + "/a", ca_path=ca_file, protocol=H2)
    second = send(transport, h2.url + "/b", ca_path=ca_file, protocol=H2)
    assert first.http_version == second.http_version == "HTTP/2"
    assert second.timings.dns == second.timings.tcp == second.timings.tls


@pytest.mark.parametrize("size", [1, 16_384, 16_385, 50_000, 65_536])
def test_small_bodies_arrive_whole_over_several_frames(
    transport: Transport, h2: H2Server, ca_file: str, size: int
) -> None:
    """Up to one read chunk (64 KiB) the body is read in one call, across DATA frames
    of 16 KiB: the read must wait for the end of the stream, not the first frame."""
    for _ in range(2):
        resp = send(transport, f"{h2.url}/?n={size}", ca_path=ca_file, protocol=H2)
        assert resp.http_version == "HTTP/2"
        assert resp.body == b"\0" * size


def test_large_upload_and_download_respect_flow_control(
    transport: Transport, h2: H2Server, ca_file: str
) -> None:
    body = b"u" * (1024 * 1024 + 7)
    sink = RecordingSink()
    resp = send(
        transport,
        h2.url + "/up",
        "POST",
        sink=sink,
        body=body,
        body_size=len(body),
        ca_path=ca_file,
        protocol=H2,
    )
    assert json.loads(resp.body)["received"] == len(body)
    assert sink.of("send")[-1] == (len(body), len(body))
    down = send(transport, h2.url + "/down?n=3000000", ca_path=ca_file, protocol=H2)
    assert down.body == b"\0" * 3_000_000


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_content_encodings_are_decoded_over_http2(
    transport: Transport, h2: H2Server, ca_file: str, encoding: str
) -> None:
    resp = send(transport, f"{h2.url}/enc?n=100000&enc={encoding}", ca_path=ca_file, protocol=H2)
    assert (resp.http_version, resp.body) == ("HTTP/2", b"\0" * 100000)


def test_max_body_counts_decoded_bytes_over_http2(
    transport: Transport, h2: H2Server, ca_file: str
) -> None:
    with pytest.raises(HttpError) as info:
        send(
            transport,
            f"{h2.url}/bomb?n=20000000&enc=gzip",
            ca_path=ca_file,
            protocol=H2,
            max_body=1024 * 1024,
        )
    assert info.value.code == MAX_SIZE_EXCEEDED
    # the connection survives the cancelled stream (or is replaced): next request works
    assert send(transport, h2.url + "/", ca_path=ca_file, protocol=H2).status == 200


def test_urgency_falls_as_priority_rises_over_the_whole_range() -> None:
    """RFC 9218: 0 is the most urgent. u = 7 - min(7, floor(log2(priority)))."""
    urgencies = [urgency(p) for p in range(1, 1001)]
    assert urgencies == sorted(urgencies, reverse=True)
    assert set(urgencies) == set(range(8))
    assert [urgency(p) for p in (1, 2, 3, 4, 16, 31, 127, 128, 1000)] == [7, 6, 6, 5, 3, 3, 1, 0, 0]


def test_priority_header_is_sent_over_http2_only_and_never_overrides_the_callers(
    transport: Transport, h2: H2Server, ca_file: str
) -> None:
    def seen(priority: int, protocol: HttpProtocol | None, **kwargs: object) -> str | None:
        send(transport, h2.url + "/p", ca_path=ca_file, protocol=protocol, priority=priority,
             **kwargs)  # fmt: skip
        return h2.priorities[-1]

    assert seen(1, H2) == "u=7"
    assert seen(20, H2) == "u=3"
    assert seen(1000, H2) == "u=0"
    assert seen(1000, H2, headers={"Priority": "u=5, i"}) == "u=5, i"
    assert seen(1000, HttpProtocol.HTTP1_1) is None  # HTTP/1.1: not sent


def test_a_scheduled_requests_priority_reaches_the_server(h2: H2Server, ca_file: str) -> None:
    options = netstack.HttpRequestOptions(using_protocol=H2, ca_path=ca_file, priority=100)
    with netstack.Scheduler(max_workers=1, max_per_host=1) as scheduler:
        assert scheduler.submit(h2.url + "/sched", options).result(timeout=30).response_code == 200
    assert h2.priorities[-1] == "u=1"
