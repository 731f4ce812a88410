"""Whatever header fields an origin sends, the cache decides without raising.

A response is data from the network: dates, ages, directives, validators,
``Vary`` and the ``Location`` fields that invalidate may hold anything. The
policy must turn every combination into a decision (store, serve, drop), so
a request never fails because its cache could not read an answer.
"""

from __future__ import annotations

import logging

import pytest
from cache_helpers import T0, URL, exchange
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netstack.cache import HttpResponseCache, driver_of

_NAMES = [
    "Cache-Control",
    "Expires",
    "Date",
    "Age",
    "Last-Modified",
    "ETag",
    "Vary",
    "Location",
    "Content-Location",
    "Pragma",
    "Set-Cookie",
    "Content-Length",
]
_PIECES = st.sampled_from(
    [
        "max-age=",
        "s-maxage=",
        "no-store",
        "no-cache",
        '"',
        ",",
        "=",
        ";",
        "private",
        "must-revalidate",
        "stale-while-revalidate=",
        "stale-if-error=",
        "immutable",
        "99999999999999999999999999",
        "-1",
        "0",
        "1e309",
        "nan",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "http://[::1/",
        "//[",
        "/p/;",
        "*",
        "Accept-Encoding",
        "\u00e9",
        " ",
        "\t",
        "W/",
    ]
)
_VALUES = st.lists(_PIECES | st.text(max_size=6), max_size=5).map("".join)
_HEADERS = st.lists(st.tuples(st.sampled_from(_NAMES), _VALUES), max_size=6)


@pytest.mark.timeout(120)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]),
    status=st.sampled_from([200, 201, 203, 204, 206, 301, 304, 404, 410, 500, 503]),
    first=_HEADERS,
    second=_HEADERS,
    later=st.floats(min_value=0, max_value=1e7),
)
@example(  # a Content-Location that is not a URL on a POST's answer
    method="POST", status=201, first=[], second=[("Content-Location", "http://[::1/")], later=1.0
)
@example(method="PUT", status=200, first=[], second=[("Location", "//[v1/x")], later=1.0)
def test_any_header_fields_give_a_decision_never_an_exception(
    method: str,
    status: int,
    first: list[tuple[str, str]],
    second: list[tuple[str, str]],
    later: float,
) -> None:
    cache = HttpResponseCache()
    exchange(cache, headers=first)  # what was stored, if anything
    exchange(cache, headers=second, status=status, method=method, at=T0 + later)
    driver_of(cache).lookup("GET", URL, {"Accept-Encoding": "gzip"}, T0 + 2 * later)


def test_if_the_policy_ever_fails_the_answer_is_served_and_the_target_invalidated(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Defence in depth: a policy bug costs caching, never the request."""
    cache = HttpResponseCache()
    exchange(cache, headers=[("Cache-Control", "max-age=100")])
    assert driver_of(cache).held()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a header no test thought of")

    monkeypatch.setattr("netstack.cache.policy.complete", broken)
    with caplog.at_level(logging.WARNING, logger="netstack"):
        _, served = exchange(cache, method="POST", status=200)
    assert served is None  # the network's answer goes to the caller as it came
    assert not driver_of(cache).held()  # the POST's target is invalidated all the same
    assert any("cache_response_unreadable" in r.getMessage() for r in caplog.records)
