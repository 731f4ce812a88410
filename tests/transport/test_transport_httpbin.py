"""Methods, bodies, decoding and TLS trust against a real httpbin."""

from __future__ import annotations

import json

import pytest
import pytest_httpbin.certs
from transport_helpers import RecordingSink, send

from netstack.errors import CA_FILE, PEER_CERT, HttpError
from netstack.transport import Transport


def test_get_returns_status_headers_body_and_final_url(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/get?a=1", headers={"X-Probe": "yes"})
    assert resp.status == 200
    echoed = json.loads(resp.body)
    assert echoed["args"] == {"a": "1"}
    assert echoed["headers"]["X-Probe"] == "yes"
    assert resp.url == httpbin.url + "/get?a=1"
    assert resp.redirects == 0
    assert resp.http_version == "HTTP/1.1"
    assert resp.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_methods_send_their_body(transport: Transport, httpbin, method: str) -> None:
    resp = send(
        transport,
        f"{httpbin.url}/{method.lower()}",
        method,
        body=b'{"k": 1}',
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 200
    assert json.loads(resp.body)["json"] == {"k": 1}


def test_head_has_no_body(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/get", "HEAD")
    assert (resp.status, resp.body) == (200, b"")


def test_options_is_answered(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/get", "OPTIONS")
    assert resp.status == 200
    assert "GET" in resp.headers["allow"]


@pytest.mark.parametrize("status", [204, 404, 500])
def test_status_codes_are_responses_not_errors(transport: Transport, httpbin, status: int) -> None:
    assert send(transport, f"{httpbin.url}/status/{status}").status == status


@pytest.mark.parametrize(
    ("path", "flag"), [("gzip", "gzipped"), ("deflate", "deflated"), ("brotli", "brotli")]
)
def test_content_encoding_is_decoded(transport: Transport, httpbin, path: str, flag: str) -> None:
    resp = send(transport, f"{httpbin.url}/{path}")
    assert resp.headers["content-encoding"] in {"gzip", "deflate", "br"}
    assert json.loads(resp.body)[flag] is True


def test_large_body_is_read_whole(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/bytes/100000?seed=1")  # httpbin caps at 100 KiB
    assert len(resp.body) == 100000


def test_headers_event_fires_once_before_body(transport: Transport, httpbin) -> None:
    sink = RecordingSink()
    send(transport, httpbin.url + "/get", sink=sink)
    assert [name for name, _ in sink.events] == ["headers"]


def test_https_with_ca_path(transport: Transport, httpbin_secure) -> None:
    resp = send(transport, httpbin_secure.url + "/get", ca_path=pytest_httpbin.certs.where())
    assert resp.status == 200
    t = resp.timings
    assert 0 < t.dns <= t.tcp <= t.tls <= t.first_send <= t.first_receive


def test_https_untrusted_by_certifi_is_peer_cert_error(
    transport: Transport, httpbin_secure
) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, httpbin_secure.url + "/get")
    assert info.value.code == PEER_CERT


def test_missing_ca_path_is_2300077(transport: Transport, httpbin_secure, tmp_path) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, httpbin_secure.url + "/get", ca_path=str(tmp_path / "missing.pem"))
    assert info.value.code == CA_FILE


def test_ca_path_is_ignored_for_plain_http(transport: Transport, httpbin, tmp_path) -> None:
    assert send(transport, httpbin.url + "/get", ca_path=str(tmp_path / "x.pem")).status == 200
