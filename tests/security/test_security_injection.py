"""No request splitting: CR, LF or NUL in a header name, header value, method or URL
is refused by ``request()`` with 401, and nothing reaches the network."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.security.security_helpers import header_names, recording_server

import netstack
from netstack import HttpError, Scheduler, errors

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=1, name="security-injection") as s:
        yield s


def _refused(scheduler: Scheduler, url: str, options: Any) -> HttpError:
    task = netstack.create_http(scheduler)
    with pytest.raises(HttpError) as info:
        task.request(url, options)
    return info.value


#: Forbidden characters inside, and at the end (where a regex "$" would let a LF pass).
INJECTIONS = [
    "\r\nX-Injected: 1",
    "\nX-Injected: 1",
    "\rX-Injected: 1",
    "\x00",
    "\r\n\r\nGET /",
    "\n",
]


@pytest.mark.parametrize("bad", INJECTIONS)
@pytest.mark.parametrize("where", ["header-name", "header-value", "method", "url-path", "url-host"])
def test_cr_lf_nul_is_401_and_nothing_is_sent(scheduler: Scheduler, where: str, bad: str) -> None:
    with recording_server() as (server, heads):
        url, options = server.url("/ok"), {}
        if where == "header-name":
            options = {"header": {f"X-A{bad}": "v"}}
        elif where == "header-value":
            options = {"header": {"X-A": f"v{bad}"}}
        elif where == "method":
            options = {"method": f"GET{bad}"}
        elif where == "url-path":
            url = server.url(f"/ok{bad}")
        else:
            url = f"http://127.0.0.1{bad}:{server.port}/"
        error = _refused(scheduler, url, options)
        stats = scheduler.stats()
    assert error.code == errors.PARAMETER_ERROR
    assert server.accepted == 0
    assert heads == []
    assert stats.queued == 0


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(min_size=1, max_size=8),
    value=st.text(max_size=8),
    cut=st.sampled_from(["\r", "\n", "\x00"]),
)
def test_any_header_with_cr_lf_or_nul_is_refused(name: str, value: str, cut: str) -> None:
    """Property: wherever the forbidden character sits, in name or value, 401 before I/O."""
    with Scheduler(max_workers=1, name="splitting") as scheduler:
        for header in ({name + cut: value}, {"X-A": value + cut + name}):
            error = _refused(scheduler, "http://127.0.0.1:9/", {"header": header})
            assert error.code == errors.PARAMETER_ERROR
        assert scheduler.stats().submitted == 0


def test_cr_lf_in_a_query_added_by_extra_data_is_percent_encoded(scheduler: Scheduler) -> None:
    """``extra_data`` of a GET becomes query text: it is escaped on the wire, never a line."""
    with recording_server() as (server, heads):
        options = {"extraData": "a=1\r\nX-Injected: 1"}
        netstack.create_http(scheduler).request(server.url("/q"), options).result(timeout=30)
    (head,) = heads
    assert "x-injected" not in header_names(head)
    assert head.startswith(b"GET /q?a=1%0D%0AX-Injected:%201 HTTP/1.1\r\n")


def test_percent_encoded_cr_lf_in_the_url_stays_encoded(scheduler: Scheduler) -> None:
    with recording_server() as (server, heads):
        url = server.url("/ok%0D%0AX-Injected:%201")
        netstack.create_http(scheduler).request(url).result(timeout=30)
    (head,) = heads
    assert "x-injected" not in header_names(head)
