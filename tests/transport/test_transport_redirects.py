"""Redirects are followed by the transport itself."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from servers_import import origin
from transport_helpers import RecordingSink, send

from netstack.errors import TOO_MANY_REDIRECTS, HttpError
from netstack.transport import Transport


def test_counts_hops_and_reports_final_url(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/redirect/3")
    assert (resp.status, resp.redirects, resp.url) == (200, 3, httpbin.url + "/get")
    assert resp.timings.redirect > 0
    assert resp.timings.redirect <= resp.timings.first_send


def test_max_redirects_zero_returns_the_3xx(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/redirect/1", max_redirects=0)
    assert (resp.status, resp.redirects, resp.timings.redirect) == (302, 0, 0.0)


def test_one_more_than_allowed_is_2300047(transport: Transport, httpbin) -> None:
    assert send(transport, httpbin.url + "/redirect/3", max_redirects=3).status == 200
    with pytest.raises(HttpError) as info:
        send(transport, httpbin.url + "/redirect/4", max_redirects=3)
    assert info.value.code == TOO_MANY_REDIRECTS


def test_relative_location(transport: Transport, httpbin) -> None:
    resp = send(transport, httpbin.url + "/relative-redirect/2")
    assert (resp.status, resp.redirects) == (200, 2)


def test_303_turns_post_into_get_without_body(transport: Transport, httpbin) -> None:
    url = f"{httpbin.url}/redirect-to?url=/anything&status_code=303"
    resp = send(transport, url, "POST", body=b"payload", headers={"Content-Type": "text/plain"})
    echoed = json.loads(resp.body)
    assert (echoed["method"], echoed["data"]) == ("GET", "")
    assert "Content-Type" not in echoed["headers"]


def test_307_keeps_method_and_body(transport: Transport, httpbin) -> None:
    url = f"{httpbin.url}/redirect-to?url=/anything&status_code=307"
    resp = send(transport, url, "POST", body=b"payload")
    echoed = json.loads(resp.body)
    assert (echoed["method"], echoed["data"]) == ("POST", "payload")


def test_307_resends_a_large_body(transport: Transport, httpbin) -> None:
    body = b"z" * 200_000
    url = f"{httpbin.url}/redirect-to?url=/anything&status_code=307"
    sink = RecordingSink()
    resp = send(transport, url, "PUT", body=body, sink=sink)
    assert len(json.loads(resp.body)["data"]) == len(body)
    sent = [s for s, _ in sink.of("send")]
    assert sent == sorted(sent)
    assert sent[-1] == len(body)


def test_sink_sees_only_the_final_response(transport: Transport, httpbin) -> None:
    sink = RecordingSink()
    send(transport, httpbin.url + "/redirect/2", sink=sink, stream=True, max_body=None)
    assert len(sink.of("headers")) == 1
    assert b"".join(sink.of("data")).startswith(b"{")


def test_credentials_dropped_on_cross_host_hop(transport: Transport) -> None:
    secret = {"Authorization": "Bearer s", "Cookie": "c=1", "X-Keep": "k"}
    with origin("127.0.0.1") as first, origin("127.0.0.2") as second:
        to = quote(second + "/echo", safe="")
        resp = send(transport, f"{first}/redirect?to={to}&status=302", headers=secret)
        headers = json.loads(resp.body)["headers"]
        assert "Authorization" not in headers
        assert "Cookie" not in headers
        assert headers["X-Keep"] == "k"
        assert resp.url == second + "/echo"


def test_credentials_kept_on_same_origin_hop(transport: Transport) -> None:
    with origin() as base:
        resp = send(transport, f"{base}/redirect?to=/echo", headers={"Authorization": "Bearer s"})
        assert json.loads(resp.body)["headers"]["Authorization"] == "Bearer s"
