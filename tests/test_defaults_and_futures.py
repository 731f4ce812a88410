"""Scheduler(default_options=...), RequestFuture.url and what each future resolves to.

Against a real httpbin on loopback: ``/headers`` echoes the request headers,
``/delay/N`` answers after N seconds, ``/redirect-to`` redirects.
"""

from __future__ import annotations

from typing import Any

import pytest

import netstack
from netstack import HttpError, HttpRequestOptions, Scheduler


def _headers(response: netstack.HttpResponse) -> dict[str, str]:
    return {k.lower(): v for k, v in response.json()["headers"].items()}


def test_default_headers_merge_name_by_name_and_the_requests_own_win(httpbin: Any) -> None:
    defaults = {"header": {"X-Team": "netstack", "User-Agent": "defaults/1", "X-Keep": "yes"}}
    with Scheduler(max_workers=2, default_options=defaults) as scheduler:
        own = {"header": {"user-agent": "mine/2", "X-Extra": "1"}}
        echoed = _headers(scheduler.submit(f"{httpbin.url}/headers", own).result(timeout=10))
        plain = _headers(scheduler.submit(f"{httpbin.url}/headers").result(timeout=10))
    assert echoed["user-agent"] == "mine/2"  # the request's own, whatever its case
    assert (echoed["x-team"], echoed["x-keep"], echoed["x-extra"]) == ("netstack", "yes", "1")
    assert (plain["user-agent"], plain["x-team"]) == ("defaults/1", "netstack")


def test_default_timeouts_apply_unless_the_request_sets_its_own(httpbin: Any) -> None:
    options = HttpRequestOptions(read_timeout=300)
    with Scheduler(max_workers=2, default_options=options) as scheduler:
        slow = f"{httpbin.url}/delay/1"
        with pytest.raises(HttpError) as caught:
            scheduler.submit(slow).result(timeout=10)
        assert caught.value.code == 2300028
        assert scheduler.submit(slow, {"readTimeout": 5000}).result(timeout=10).ok
        assert scheduler.default_options is not None
        assert scheduler.default_options.read_timeout == 300


def test_create_http_on_the_scheduler_inherits_its_defaults(httpbin: Any) -> None:
    with Scheduler(max_workers=2, default_options={"header": {"X-From": "scheduler"}}) as s:
        response = netstack.create_http(s).request(f"{httpbin.url}/headers").result(timeout=10)
        stream_code = netstack.create_http(s).request_in_stream(f"{httpbin.url}/get").result(10)
    assert _headers(response)["x-from"] == "scheduler"
    assert stream_code == 200
    assert isinstance(stream_code, int)


def test_an_options_object_request_overrides_only_what_it_changes(httpbin: Any) -> None:
    defaults = {"method": "POST", "extraData": {"k": 1}, "header": {"X-D": "1"}}
    with Scheduler(max_workers=2, default_options=defaults) as scheduler:
        own = HttpRequestOptions(header={"X-O": "2"})  # method GET is its default: not "set"
        echoed = scheduler.submit(f"{httpbin.url}/anything", own).result(timeout=10).json()
    assert echoed["method"] == "POST"
    assert echoed["json"] == {"k": 1}
    assert (echoed["headers"]["X-D"], echoed["headers"]["X-O"]) == ("1", "2")


@pytest.mark.parametrize(
    ("defaults", "field"),
    [({"priority": 0}, "priority"), ({"readTimout": 5}, "readTimout"), ("GET", "options")],
)
def test_invalid_default_options_are_a_401_at_construction(defaults: Any, field: str) -> None:
    with pytest.raises(HttpError) as caught:
        Scheduler(default_options=defaults)
    assert caught.value.code == 401
    assert field in caught.value.message


def test_no_default_options_by_default() -> None:
    with Scheduler(max_workers=1) as scheduler:
        assert scheduler.default_options is None


def test_future_url_is_the_url_as_submitted(httpbin: Any) -> None:
    target = f"{httpbin.url}/get"
    submitted = f"{httpbin.url}/redirect-to?url={target}"
    with Scheduler(max_workers=2) as scheduler:
        future = scheduler.submit(submitted)
        batch = scheduler.submit_batch([f"{httpbin.url}/get?a=1", (f"{httpbin.url}/get?b=2", None)])
        response = future.result(timeout=10)
    assert future.url == submitted
    assert response.url == target  # the final URL, after the redirect
    assert [f.url for f in batch] == [f"{httpbin.url}/get?a=1", f"{httpbin.url}/get?b=2"]
    http = netstack.create_http()
    assert http.request(f"{httpbin.url}/get?c=3").url == f"{httpbin.url}/get?c=3"


def test_a_future_that_ended_at_submit_keeps_its_url() -> None:
    with Scheduler(max_workers=1) as scheduler:
        future = scheduler.submit("ftp://127.0.0.1/x")  # settled at submit: 2300001
        with pytest.raises(HttpError):
            future.result(timeout=10)
    assert future.url == "ftp://127.0.0.1/x"


def test_request_future_is_generic_at_run_time_too() -> None:
    alias = netstack.RequestFuture[netstack.HttpResponse]
    assert alias.__origin__ is netstack.RequestFuture
