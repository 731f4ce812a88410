"""request() end to end against a real httpbin on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import netstack
from netstack import HttpDataType, HttpError, HttpResponse, ResponseCode, Scheduler

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=8, max_per_host=8, name="test-request") as s:
        yield s


def fetch(scheduler: Scheduler, url: str, options: Any = None) -> HttpResponse:
    return netstack.create_http(scheduler).request(url, options).result(timeout=30)


def body_json(response: HttpResponse) -> Any:
    assert isinstance(response.result, str)
    return json.loads(response.result)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_methods_reach_the_server_as_sent(httpbin: Any, scheduler: Scheduler, method: str) -> None:
    response = fetch(scheduler, f"{httpbin.url}/anything", {"method": method})
    assert response.response_code == 200
    assert body_json(response)["method"] == method


def test_head_has_headers_and_no_body(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/get", {"method": "HEAD"})
    assert response.response_code == 200
    assert response.result == ""
    assert int(response.header["Content-Length"]) > 0


def test_options_trace_and_connect_get_a_response(httpbin: Any, scheduler: Scheduler) -> None:
    assert fetch(scheduler, f"{httpbin.url}/get", {"method": "OPTIONS"}).response_code == 200
    for method in ("TRACE", "CONNECT"):
        response = fetch(scheduler, f"{httpbin.url}/anything", {"method": method})
        assert 200 <= response.response_code < 600


def test_post_json_body_by_default(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(
        scheduler, f"{httpbin.url}/post", {"method": "POST", "extraData": {"a": 1, "b": "\u00e9"}}
    )
    echoed = body_json(response)
    assert echoed["json"] == {"a": 1, "b": "\u00e9"}
    assert echoed["headers"]["Content-Type"] == "application/json"


def test_post_form_when_content_type_says_so(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(
        scheduler,
        f"{httpbin.url}/post",
        {
            "method": "POST",
            "extraData": {"a": "1", "b": "x y"},
            "header": {"Content-Type": "application/x-www-form-urlencoded"},
        },
    )
    assert body_json(response)["form"] == {"a": "1", "b": "x y"}


def test_put_string_body_is_utf8(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(
        scheduler,
        f"{httpbin.url}/put",
        {"method": "PUT", "extraData": "caf\u00e9", "header": {"Content-Type": "text/plain"}},
    )
    assert body_json(response)["data"] == "caf\u00e9"


def test_get_extra_data_becomes_the_query(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/get?z=0", {"extraData": {"a": "1", "b": "x y"}})
    assert body_json(response)["args"] == {"z": "0", "a": "1", "b": "x y"}


def test_multipart_form_data(httpbin: Any, scheduler: Scheduler, tmp_path: Any) -> None:
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"file body")
    response = fetch(
        scheduler,
        f"{httpbin.url}/post",
        {
            "method": "POST",
            "header": {"Content-Type": "multipart/form-data"},
            "multiFormDataList": [
                {"name": "field", "contentType": "text/plain", "data": "value"},
                {"name": "file", "contentType": "text/plain", "filePath": str(upload)},
            ],
        },
    )
    echoed = body_json(response)
    assert echoed["form"] == {"field": "value"}
    assert echoed["files"] == {"file": "file body"}


def test_request_headers_are_sent(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/headers", {"header": {"X-Token": "abc"}})
    assert body_json(response)["headers"]["X-Token"] == "abc"


def test_response_headers_are_case_insensitive(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/response-headers?X-Thing=1")
    assert response.header["x-thing"] == "1"
    assert response.header["X-THING"] == "1"


def test_status_codes_are_responses_not_errors(httpbin: Any, scheduler: Scheduler) -> None:
    for code in (201, 204, 404, 418, 500, 503):
        response_code = fetch(scheduler, f"{httpbin.url}/status/{code}").response_code
        assert response_code == code
        # a ResponseCode member where one exists (418 has none).
        assert isinstance(response_code, ResponseCode) is (code != 418)


def test_redirects_are_followed_and_url_is_final(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/redirect/3")
    assert response.response_code == 200
    assert response.url == f"{httpbin.url}/get"
    assert response.performance_timing.redirect_timing > 0


def test_max_redirects_zero_returns_the_3xx(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/redirect/1", {"max_redirects": 0})
    assert response.response_code == 302


def test_too_many_redirects_is_2300047(httpbin: Any, scheduler: Scheduler) -> None:
    with pytest.raises(HttpError) as info:
        fetch(scheduler, f"{httpbin.url}/redirect/5", {"max_redirects": 2})
    assert info.value.code == 2300047


def test_cookies_are_the_raw_set_cookie_lines(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/cookies/set?a=1&b=2", {"max_redirects": 0})
    lines = response.cookies.split("\n")
    assert len(lines) == 2
    assert any(line.startswith("a=1") for line in lines)
    assert any(line.startswith("b=2") for line in lines)


def test_gzip_and_deflate_bodies_are_decoded(httpbin: Any, scheduler: Scheduler) -> None:
    assert body_json(fetch(scheduler, f"{httpbin.url}/gzip"))["gzipped"] is True
    assert body_json(fetch(scheduler, f"{httpbin.url}/deflate"))["deflated"] is True


def test_range_from_resume_options(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(
        scheduler,
        f"{httpbin.url}/range/100",
        {"resumeFrom": 10, "resumeTo": 19, "expectDataType": HttpDataType.ARRAY_BUFFER},
    )
    assert response.response_code == 206
    assert response.result == b"klmnopqrst"


def test_expect_object_parses_json(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/json", {"expectDataType": HttpDataType.OBJECT})
    assert response.result_type is HttpDataType.OBJECT
    assert isinstance(response.result, dict)


def test_binary_content_types_give_bytes(httpbin: Any, scheduler: Scheduler) -> None:
    response = fetch(scheduler, f"{httpbin.url}/image/png")
    assert response.result_type is HttpDataType.ARRAY_BUFFER
    assert isinstance(response.result, bytes)
    assert response.result.startswith(b"\x89PNG")


def test_max_limit_is_enforced_on_decoded_bytes(httpbin: Any, scheduler: Scheduler) -> None:
    with pytest.raises(HttpError) as info:
        fetch(scheduler, f"{httpbin.url}/bytes/4096", {"max_limit": 1000})
    assert info.value.code == 2300063
    ok = fetch(scheduler, f"{httpbin.url}/bytes/1000", {"max_limit": 1000})
    assert len(ok.result) == 1000


def test_performance_timing_is_measured(httpbin: Any) -> None:
    with Scheduler(max_workers=1, name="fresh-connection") as fresh:
        timing = fetch(fresh, f"{httpbin.url}/get").performance_timing
    assert 0 < timing.dns_timing <= timing.tcp_timing <= timing.first_send_timing
    assert timing.first_send_timing <= timing.first_receive_timing
    assert timing.response_header_timing <= timing.response_body_timing <= timing.total_timing
    assert timing.queue_timing >= 0


def test_callback_is_called_once_with_the_response(httpbin: Any, scheduler: Scheduler) -> None:
    calls: list[tuple[Any, Any]] = []
    done = threading.Event()

    def callback(err: Any, data: Any) -> None:
        calls.append((err, data))
        done.set()

    future = netstack.create_http(scheduler).request(f"{httpbin.url}/get", None, callback)
    future.result(timeout=30)
    assert done.wait(10)
    assert len(calls) == 1
    assert calls[0][0] is None
    assert calls[0][1].response_code == 200


def test_callback_gets_the_error(scheduler: Scheduler) -> None:
    calls: list[tuple[Any, Any]] = []
    future = netstack.create_http(scheduler).request(
        "http://127.0.0.1:1/", {"connectTimeout": 2000}, lambda e, d: calls.append((e, d))
    )
    with pytest.raises(HttpError):
        future.result(timeout=30)
    assert len(calls) == 1
    assert calls[0][0].code == 2300007
    assert calls[0][1] is None


def test_an_http_request_is_not_reusable(httpbin: Any, scheduler: Scheduler) -> None:
    http = netstack.create_http(scheduler)
    http.request(f"{httpbin.url}/get").result(timeout=30)
    with pytest.raises(HttpError) as info:
        http.request(f"{httpbin.url}/get")
    assert info.value.code == 401


def test_bad_input_raises_before_queueing(scheduler: Scheduler) -> None:
    before = scheduler.stats().submitted
    with pytest.raises(HttpError) as info:
        netstack.create_http(scheduler).request("http://127.0.0.1/", {"priority": 0})
    assert info.value.code == 401
    assert "priority" in info.value.message
    assert scheduler.stats().submitted == before


@pytest.mark.parametrize(
    ("url", "code"), [("ftp://127.0.0.1/", 2300001), ("http://", 2300003), ("nope", 2300003)]
)
def test_bad_urls_end_the_future(scheduler: Scheduler, url: str, code: int) -> None:
    future = netstack.create_http(scheduler).request(url)
    with pytest.raises(HttpError) as info:
        future.result(timeout=10)
    assert info.value.code == code


def test_connection_refused_is_2300007(scheduler: Scheduler) -> None:
    with pytest.raises(HttpError) as info:
        fetch(scheduler, "http://127.0.0.1:1/")
    assert info.value.code == 2300007
    assert isinstance(info.value, ConnectionError)
