"""Example tests of the cache policy, grouped by RFC 9111 section.

https://www.rfc-editor.org/rfc/rfc9111 — driven through ``HttpResponseCache``
``lookup``/``complete`` with a fixed clock; no network.
"""

from __future__ import annotations

import pytest
from cache_helpers import T0, URL, exchange, http_date

from netstack.cache import CacheEntry, HttpResponseCache, driver_of
from netstack.cache.freshness import cache_key, current_age, freshness_lifetime, normalise_url
from netstack.cache.update import merge_headers

FRESH = [("Cache-Control", "max-age=100")]


def stored(cache: HttpResponseCache, url: str = URL) -> CacheEntry | None:
    return driver_of(cache).held().get(cache_key(url))


def entry(headers: list[tuple[str, str]], status: int = 200, *, at: float = T0) -> CacheEntry:
    return CacheEntry(
        key=cache_key(URL),
        url=URL,
        status=status,
        headers=tuple(headers),
        body=b"x",
        request_time=at,
        response_time=at,
    )


class TestCacheKey:
    """§2 https://www.rfc-editor.org/rfc/rfc9111#section-2 — the key is method + URI."""

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("HTTPS://Example.TEST:443/a?b=1#frag", "https://example.test/a?b=1"),
            ("http://example.test", "http://example.test/"),
            ("http://example.test:8080/x", "http://example.test:8080/x"),
            ("http://[::1]:80/x", "http://[::1]/x"),
        ],
    )
    def test_normalised_url(self, url: str, expected: str) -> None:
        assert normalise_url(url) == expected

    def test_fragment_and_default_port_share_an_entry(self, cache: HttpResponseCache) -> None:
        exchange(cache, "https://example.test:443/r#one", headers=FRESH)
        assert (
            driver_of(cache).lookup("GET", "https://EXAMPLE.test/r#two", {}, T0).action == "fresh"
        )


class TestStoring:
    """§3 https://www.rfc-editor.org/rfc/rfc9111#section-3 — what may be stored."""

    def test_explicitly_fresh_200_is_stored(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH)
        assert stored(cache) is not None

    @pytest.mark.parametrize("status", [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
    def test_heuristically_cacheable_statuses_are_stored(
        self, cache: HttpResponseCache, status: int
    ) -> None:
        exchange(cache, status=status)
        assert stored(cache) is not None

    @pytest.mark.parametrize("status", [201, 302, 307, 400, 500, 503])
    def test_other_statuses_need_explicit_freshness(
        self, cache: HttpResponseCache, status: int
    ) -> None:
        exchange(cache, status=status)
        assert stored(cache) is None
        exchange(cache, status=status, headers=FRESH)
        assert stored(cache) is not None

    @pytest.mark.parametrize("status", [206, 304, 100])
    def test_partial_and_not_modified_are_never_stored(
        self, cache: HttpResponseCache, status: int
    ) -> None:
        exchange(cache, status=status, headers=FRESH)
        assert stored(cache) is None

    @pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "OPTIONS"])
    def test_only_get_is_stored(self, cache: HttpResponseCache, method: str) -> None:
        exchange(cache, method=method, headers=FRESH)
        assert len(cache) == 0

    def test_response_no_store(self, cache: HttpResponseCache) -> None:
        """§5.2.2.5 https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.5"""
        exchange(cache, headers=[("Cache-Control", "max-age=100, no-store")])
        assert stored(cache) is None

    def test_request_no_store(self, cache: HttpResponseCache) -> None:
        """§5.2.1.5 https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.5"""
        exchange(cache, headers=FRESH, request_headers={"cache-control": "no-store"})
        assert stored(cache) is None

    def test_request_no_store_may_still_be_served(self, cache: HttpResponseCache) -> None:
        """§5.2.1.5 forbids storing, not serving what is already stored."""
        exchange(cache, headers=FRESH)
        assert (
            driver_of(cache).lookup("GET", URL, {"Cache-Control": "no-store"}, T0).action == "fresh"
        )

    def test_private_and_public_are_storable(self, cache: HttpResponseCache) -> None:
        """§5.2.2.7, §5.2.2.9: this is a private cache."""
        exchange(cache, "https://example.test/a", headers=[("Cache-Control", "private, max-age=9")])
        exchange(cache, "https://example.test/b", status=302, headers=[("Cache-Control", "public")])
        assert stored(cache, "https://example.test/a") is not None
        assert stored(cache, "https://example.test/b") is not None

    def test_vary_star_is_not_stored(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[*FRESH, ("Vary", "*")])
        assert stored(cache) is None

    def test_authorization_needs_public_or_must_revalidate(self, cache: HttpResponseCache) -> None:
        """§3.5 https://www.rfc-editor.org/rfc/rfc9111#section-3.5"""
        auth = {"Authorization": "Bearer t"}
        exchange(cache, headers=FRESH, request_headers=auth)
        assert stored(cache) is None
        for directive in ("public", "must-revalidate", "s-maxage=5"):
            url = f"https://example.test/{directive}"
            cc = [("Cache-Control", f"max-age=100, {directive}")]
            exchange(cache, url, headers=cc, request_headers=auth)
            assert stored(cache, url) is not None, directive

    def test_stored_headers_describe_the_decoded_body(self, cache: HttpResponseCache) -> None:
        exchange(
            cache,
            headers=[
                *FRESH,
                ("Content-Encoding", "gzip"),
                ("Content-Length", "20"),
                ("Connection", "close, X-Hop"),
                ("X-Hop", "1"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ],
            body=b"decoded!",
        )
        found = stored(cache)
        assert found is not None
        assert list(found.headers) == [
            ("Cache-Control", "max-age=100"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("Date", http_date(T0)),  # none came: the time it arrived (RFC 9110 §6.6.1)
            ("Content-Length", "8"),
        ]

    def test_unstorable_answer_replaces_what_was_stored(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH)
        exchange(cache, headers=[("Cache-Control", "no-store")], request_headers={"x": "1"}, at=T0)
        assert stored(cache) is None

    def test_server_error_keeps_what_was_stored(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=1"), ("ETag", '"v1"')])
        exchange(cache, status=503, at=T0 + 10)
        assert stored(cache) is not None


class TestVary:
    """§4.1 https://www.rfc-editor.org/rfc/rfc9111#section-4.1 — secondary keys."""

    def test_same_normalised_values_match(self, cache: HttpResponseCache) -> None:
        exchange(
            cache,
            headers=[*FRESH, ("Vary", "Accept-Encoding, accept")],
            request_headers={"Accept-Encoding": "gzip,  br", "Accept": "text/html"},
        )
        same = {"accept-encoding": " gzip , br", "ACCEPT": "text/html"}
        assert driver_of(cache).lookup("GET", URL, same, T0).action == "fresh"

    def test_different_value_misses(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[*FRESH, ("Vary", "Accept")], request_headers={"Accept": "a/b"})
        assert driver_of(cache).lookup("GET", URL, {"Accept": "c/d"}, T0).action == "miss"

    def test_absent_differs_from_empty(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[*FRESH, ("Vary", "Accept")])
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "fresh"
        assert driver_of(cache).lookup("GET", URL, {"Accept": ""}, T0).action == "miss"


class TestFreshness:
    """§4.2.1 https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1 and §4.2.2."""

    def test_max_age_wins_over_expires(self) -> None:
        headers = [
            ("Date", http_date(T0)),
            ("Expires", http_date(T0 + 9000)),
            ("Cache-Control", "max-age=10"),
        ]
        assert freshness_lifetime(entry(headers)) == 10

    def test_s_maxage_is_ignored(self) -> None:
        assert freshness_lifetime(entry([("Cache-Control", "s-maxage=500")])) == 0

    def test_expires_is_relative_to_date(self) -> None:
        headers = [("Date", http_date(T0 - 1000)), ("Expires", http_date(T0 - 900))]
        assert freshness_lifetime(entry(headers)) == 100

    def test_expires_without_date_is_relative_to_arrival(self) -> None:
        assert freshness_lifetime(entry([("Expires", http_date(T0 + 60))])) == 60

    @pytest.mark.parametrize("bad", ["0", "-1", "never"])
    def test_invalid_expires_is_stale(self, cache: HttpResponseCache, bad: str) -> None:
        """§5.3: an invalid Expires, especially "0", is in the past."""
        assert freshness_lifetime(entry([("Expires", bad)])) == 0
        exchange(cache, headers=[("Expires", bad)])
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "miss"

    def test_heuristic_is_ten_percent_of_last_modified_age(self) -> None:
        headers = [("Date", http_date(T0)), ("Last-Modified", http_date(T0 - 5000))]
        assert freshness_lifetime(entry(headers)) == 500

    def test_heuristic_is_capped_at_a_day(self) -> None:
        headers = [("Date", http_date(T0)), ("Last-Modified", http_date(T0 - 10**8))]
        assert freshness_lifetime(entry(headers)) == 86400

    def test_no_heuristic_for_other_statuses(self) -> None:
        headers = [("Date", http_date(T0)), ("Last-Modified", http_date(T0 - 5000))]
        assert freshness_lifetime(entry(headers, status=302)) == 0

    def test_fresh_until_lifetime_then_stale(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=100")])
        assert driver_of(cache).lookup("GET", URL, {}, T0 + 99.9).action == "fresh"
        assert driver_of(cache).lookup("GET", URL, {}, T0 + 100).action == "miss"  # no validator


class TestAge:
    """§4.2.3 https://www.rfc-editor.org/rfc/rfc9111#section-4.2.3 — current age."""

    def test_age_header_and_response_delay_add_up(self) -> None:
        e = CacheEntry(
            key="k",
            url=URL,
            status=200,
            headers=(("Age", "30"),),
            body=b"",
            request_time=T0 - 2,
            response_time=T0,
        )
        assert current_age(e, T0 + 10) == 30 + 2 + 10

    def test_apparent_age_from_date(self) -> None:
        e = entry([("Date", http_date(T0 - 50))])
        assert current_age(e, T0) == 50

    def test_served_response_carries_age(self, cache: HttpResponseCache) -> None:
        """§4: a cache serving without validation generates Age."""
        exchange(cache, headers=[*FRESH, ("Age", "5")])
        lookup = driver_of(cache).lookup("GET", URL, {}, T0 + 20)
        assert lookup.response is not None
        assert ("Age", "25") in lookup.response.headers
        assert [v for n, v in lookup.response.headers if n.lower() == "age"] == ["25"]

    def test_age_can_make_a_response_stale_on_arrival(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=60"), ("Age", "61")])
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "miss"


class TestValidation:
    """§4.3 https://www.rfc-editor.org/rfc/rfc9111#section-4.3 — conditional requests."""

    VALIDATORS = (("ETag", '"v1"'), ("Last-Modified", http_date(T0 - 3600)))

    def test_stale_entry_sends_both_validators(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=10"), *self.VALIDATORS])
        lookup = driver_of(cache).lookup("GET", URL, {}, T0 + 11)
        assert lookup.action == "revalidate"
        assert dict(lookup.conditional_headers) == {
            "If-None-Match": '"v1"',
            "If-Modified-Since": http_date(T0 - 3600),
        }

    def test_304_serves_stored_body_with_updated_headers(self, cache: HttpResponseCache) -> None:
        """§4.3.4 https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4"""
        exchange(
            cache,
            headers=[("Cache-Control", "max-age=10"), ("X-Old", "1"), *self.VALIDATORS],
            body=b"payload",
        )
        lookup, served = exchange(
            cache,
            status=304,
            at=T0 + 50,
            body=b"",
            headers=[("Cache-Control", "max-age=100"), ("X-New", "2"), ("Content-Length", "0")],
        )
        assert lookup.action == "revalidate"
        assert served is not None
        assert (served.status, served.body) == (200, b"payload")
        names = dict(served.headers)
        assert names["Cache-Control"] == "max-age=100"
        assert names["X-Old"] == "1"
        assert names["X-New"] == "2"
        assert names["Content-Length"] == "7"
        assert driver_of(cache).lookup("GET", URL, {}, T0 + 140).action == "fresh"

    def test_200_to_revalidation_replaces_entry(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=10"), *self.VALIDATORS], body=b"old")
        _, served = exchange(cache, headers=FRESH, body=b"new", at=T0 + 20)
        assert served is None
        found = driver_of(cache).lookup("GET", URL, {}, T0 + 21).response
        assert found is not None
        assert found.body == b"new"

    def test_304_with_another_strong_etag_is_not_merged(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=10"), ("ETag", '"v1"')])
        _, served = exchange(cache, status=304, headers=[("ETag", '"v2"')], at=T0 + 20)
        assert served is None
        assert stored(cache) is None

    def test_304_to_callers_own_conditional_is_theirs(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[*FRESH, ("ETag", '"v1"')])
        lookup, served = exchange(cache, status=304, request_headers={"If-None-Match": '"v1"'})
        assert lookup.action == "miss"
        assert served is None

    def test_no_cache_response_always_revalidates(self, cache: HttpResponseCache) -> None:
        """§5.2.2.4 https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.4"""
        exchange(cache, headers=[("Cache-Control", "no-cache, max-age=100"), ("ETag", '"v1"')])
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "revalidate"

    def test_must_revalidate_refuses_max_stale(self, cache: HttpResponseCache) -> None:
        """§5.2.2.2 https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.2"""
        exchange(cache, headers=[("Cache-Control", "max-age=1, must-revalidate"), ("ETag", '"v1"')])
        assert driver_of(cache).lookup(
            "GET", URL, {"Cache-Control": "max-stale"}, T0 + 5
        ).action == ("revalidate")

    def test_merge_replaces_every_line_of_a_name(self) -> None:
        merged = merge_headers(
            [("A", "1"), ("Set-Cookie", "x=1"), ("B", "2"), ("Set-Cookie", "y=2")],
            [("set-cookie", "z=3"), ("C", "3"), ("Content-Type", "text/evil")],
        )
        assert list(merged) == [("A", "1"), ("set-cookie", "z=3"), ("B", "2"), ("C", "3")]


class TestInvalidation:
    """§4.4 https://www.rfc-editor.org/rfc/rfc9111#section-4.4 — unsafe methods."""

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "BREW"])
    def test_success_invalidates_target(self, cache: HttpResponseCache, method: str) -> None:
        exchange(cache, headers=FRESH)
        exchange(cache, method=method, status=204)
        assert stored(cache) is None

    def test_error_does_not_invalidate(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH)
        exchange(cache, method="POST", status=500)
        assert stored(cache) is not None

    def test_location_and_content_location_same_origin(self, cache: HttpResponseCache) -> None:
        for path in ("/a", "/b", "/c"):
            exchange(cache, f"https://example.test{path}", headers=FRESH)
        exchange(cache, "https://other.test/x", headers=FRESH)
        exchange(
            cache,
            "https://example.test/form",
            method="POST",
            status=303,
            headers=[("Location", "/a"), ("Content-Location", "https://example.test:443/b")],
        )
        exchange(
            cache,
            "https://example.test/form",
            method="POST",
            status=201,
            headers=[("Location", "https://other.test/x")],
        )
        assert stored(cache, "https://example.test/a") is None
        assert stored(cache, "https://example.test/b") is None
        assert stored(cache, "https://example.test/c") is not None
        assert stored(cache, "https://other.test/x") is not None

    @pytest.mark.parametrize("value", ["http://[::1/", "https://[v1.x/", "//[::1/a"])
    def test_a_location_that_is_not_a_url_invalidates_only_the_target(
        self, cache: HttpResponseCache, value: str
    ) -> None:
        for path in ("/a", "/form"):
            exchange(cache, f"https://example.test{path}", headers=FRESH)
        for name in ("Location", "Content-Location"):
            exchange(
                cache,
                "https://example.test/form",
                method="POST",
                status=201,
                headers=[(name, value)],
            )
        assert stored(cache, "https://example.test/form") is None
        assert stored(cache, "https://example.test/a") is not None

    def test_a_location_keeps_its_trailing_semicolon(self, cache: HttpResponseCache) -> None:
        for path in ("/p/", "/p/;"):
            exchange(cache, f"https://example.test{path}", headers=FRESH)
        exchange(
            cache,
            "https://example.test/form",
            method="POST",
            status=201,
            headers=[("Location", "/p/;")],
        )
        assert stored(cache, "https://example.test/p/;") is None
        assert stored(cache, "https://example.test/p/") is not None

    def test_safe_methods_invalidate_nothing(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH)
        exchange(cache, method="HEAD", status=200)
        exchange(cache, method="OPTIONS", status=200)
        assert stored(cache) is not None


class TestRequestDirectives:
    """§5.2.1 https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1"""

    def setup_entry(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=100"), ("ETag", '"v1"')])

    def action(self, cache: HttpResponseCache, cc: str, at: float) -> str:
        return driver_of(cache).lookup("GET", URL, {"Cache-Control": cc}, at).action

    def test_no_cache_revalidates(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        assert self.action(cache, "no-cache", T0) == "revalidate"

    def test_max_age(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        assert self.action(cache, "max-age=30", T0 + 30) == "fresh"
        assert self.action(cache, "max-age=30", T0 + 31) == "revalidate"
        assert self.action(cache, "max-age=0", T0 + 1) == "revalidate"

    def test_max_stale_with_value(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        assert self.action(cache, "max-stale=50", T0 + 150) == "fresh"
        assert self.action(cache, "max-stale=50", T0 + 151) == "revalidate"

    def test_max_stale_without_value_accepts_any_staleness(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        assert self.action(cache, "max-stale", T0 + 10**6) == "fresh"

    def test_min_fresh(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        assert self.action(cache, "min-fresh=40", T0 + 60) == "fresh"
        assert self.action(cache, "min-fresh=40", T0 + 61) == "revalidate"

    def test_only_if_cached_serves_fresh(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        assert self.action(cache, "only-if-cached", T0) == "fresh"

    def test_only_if_cached_gives_504_when_nothing_fits(self, cache: HttpResponseCache) -> None:
        """§5.2.1.7 https://www.rfc-editor.org/rfc/rfc9111#section-5.2.1.7"""
        lookup = driver_of(cache).lookup("GET", URL, {"Cache-Control": "only-if-cached"}, T0)
        assert lookup.action == "unsatisfiable"
        assert lookup.response is not None
        assert lookup.response.status == 504
        self.setup_entry(cache)
        assert self.action(cache, "only-if-cached", T0 + 500) == "unsatisfiable"

    def test_range_and_own_validators_bypass(self, cache: HttpResponseCache) -> None:
        self.setup_entry(cache)
        for name in ("Range", "If-None-Match", "If-Modified-Since"):
            assert driver_of(cache).lookup("GET", URL, {name: "x"}, T0).action == "miss", name
        exchange(cache, status=206, request_headers={"Range": "bytes=0-1"}, body=b"pa")
        assert stored(cache) is not None


class TestHeadFromStoredGet:
    """RFC 9110 §9.3.2: HEAD gets the header fields a GET would; RFC 9111 §4 lets a cache answer."""

    def test_fresh_get_answers_head_without_body(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH, body=b"the body")
        lookup = driver_of(cache).lookup("HEAD", URL, {}, T0 + 1)
        assert lookup.action == "fresh"
        assert lookup.response is not None
        assert lookup.response.body == b""
        assert ("Content-Length", "8") in lookup.response.headers
        assert driver_of(cache).lookup("GET", URL, {}, T0 + 1).response.body == b"the body"  # type: ignore[union-attr]

    def test_stale_get_is_not_revalidated_for_head(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=[("Cache-Control", "max-age=0"), ("ETag", '"e"')])
        lookup = driver_of(cache).lookup("HEAD", URL, {}, T0 + 1)
        assert (lookup.action, lookup.conditional_headers) == ("miss", {})

    def test_head_answer_stores_and_invalidates_nothing(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH, body=b"kept")
        exchange(cache, method="HEAD", headers=[("Cache-Control", "max-age=99")], body=b"")
        assert driver_of(cache).lookup("GET", URL, {}, T0 + 1).response.body == b"kept"  # type: ignore[union-attr]
