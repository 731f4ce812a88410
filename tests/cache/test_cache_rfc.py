"""RFC 9111 / 9110 / 5861 points through ``Scheduler.submit``, against a scripted origin.

Each class is one section; the origin records every request, so "served
from the cache" is checked by what it did not see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cache_helpers import http_date
from scripted_origin import Answer, ScriptedOrigin, Seen, running_origin

from netstack import HttpError, HttpResponse, Scheduler
from netstack.cache import HttpResponseCache, MemoryStorage
from netstack.cache.headers import parse_http_date

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def origin() -> Iterator[ScriptedOrigin]:
    with running_origin() as state:
        yield state


@pytest.fixture
def cache() -> HttpResponseCache:
    return HttpResponseCache(storage=MemoryStorage())


@pytest.fixture
def scheduler(cache: HttpResponseCache) -> Iterator[Scheduler]:
    with Scheduler(max_workers=8, max_per_host=8, cache=cache, name="test-cache-rfc") as s:
        yield s


def get(scheduler: Scheduler, url: str, options: dict[str, Any] | None = None) -> HttpResponse:
    response = scheduler.submit(url, options).result(timeout=30)
    assert isinstance(response, HttpResponse)
    return response


class TestDate:
    """RFC 9110 §6.6.1 https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1"""

    def test_a_response_without_date_is_stored_and_served_with_one(
        self, origin: ScriptedOrigin, scheduler: Scheduler
    ) -> None:
        origin.script("/nodate", headers=[("Cache-Control", "max-age=60")], body=b"x")
        before = time.time()
        first = get(scheduler, f"{origin.url}/nodate")
        second = get(scheduler, f"{origin.url}/nodate")
        assert (first.from_cache, second.from_cache) == (False, True)
        date = parse_http_date(second.header.get("Date"))
        assert date is not None
        assert before - 1 <= date <= time.time() + 1
        assert len(origin.seen("/nodate")) == 1

    def test_an_origin_date_is_kept(self, origin: ScriptedOrigin, scheduler: Scheduler) -> None:
        stamp = http_date(time.time() - 5)
        origin.script("/dated", headers=[("Cache-Control", "max-age=60"), ("Date", stamp)])
        get(scheduler, f"{origin.url}/dated")
        assert get(scheduler, f"{origin.url}/dated").header.get("Date") == stamp


class TestAge:
    """RFC 9111 §5.1 https://www.rfc-editor.org/rfc/rfc9111#section-5.1"""

    @pytest.mark.parametrize("age", ["-1", "abc", "1.5", "1, 2", ""])
    def test_an_invalid_age_makes_the_response_stale(
        self, origin: ScriptedOrigin, scheduler: Scheduler, age: str
    ) -> None:
        origin.script("/age", headers=[("Cache-Control", "max-age=600"), ("Age", age)])
        get(scheduler, f"{origin.url}/age")
        assert not get(scheduler, f"{origin.url}/age").from_cache
        assert len(origin.seen("/age")) == 2

    def test_a_valid_age_counts(self, origin: ScriptedOrigin, scheduler: Scheduler) -> None:
        origin.script("/age", headers=[("Cache-Control", "max-age=600"), ("Age", "30")])
        get(scheduler, f"{origin.url}/age")
        again = get(scheduler, f"{origin.url}/age")
        assert again.from_cache
        assert int(again.header["Age"]) >= 30


class TestVariants:
    """RFC 9111 §4.1 https://www.rfc-editor.org/rfc/rfc9111#section-4.1"""

    @staticmethod
    def by_language(seen: Seen, count: int) -> Answer:
        language = seen.headers.get("Accept-Language", "none")
        headers = [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")]
        return Answer(200, headers, f"{language} #{count}".encode())

    def test_variants_are_stored_side_by_side(
        self, origin: ScriptedOrigin, scheduler: Scheduler, cache: HttpResponseCache
    ) -> None:
        origin.scripts["/v"] = self.by_language
        url = f"{origin.url}/v"
        languages = ["en", "fr", "de", None]
        first = {}
        for language in languages:
            header = {} if language is None else {"Accept-Language": language}
            first[language] = get(scheduler, url, {"header": header})
        for _ in range(2):
            for language in languages:
                header = {} if language is None else {"Accept-Language": language}
                again = get(scheduler, url, {"header": header})
                assert again.from_cache
                assert again.result == first[language].result
        assert len(origin.seen("/v")) == 4
        assert len(cache) == 4

    def test_variants_stay_within_the_byte_bound(self, origin: ScriptedOrigin) -> None:
        big = b"x" * 400

        def answer(seen: Seen, count: int) -> Answer:
            headers = [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")]
            return Answer(200, headers, big)

        origin.scripts["/big"] = answer
        cache = HttpResponseCache(1500, storage=MemoryStorage())
        with Scheduler(cache=cache, name="test-cache-vary-bound") as scheduler:
            for language in ("a", "b", "c", "d", "e"):
                get(scheduler, f"{origin.url}/big", {"header": {"Accept-Language": language}})
                assert cache.stats().bytes <= 1500
            assert 0 < len(cache) < 5
            newest = get(scheduler, f"{origin.url}/big", {"header": {"Accept-Language": "e"}})
            assert newest.from_cache

    def test_an_unsafe_request_invalidates_every_variant(
        self, origin: ScriptedOrigin, scheduler: Scheduler, cache: HttpResponseCache
    ) -> None:
        origin.scripts["/v"] = self.by_language
        url = f"{origin.url}/v"
        for language in ("en", "fr"):
            get(scheduler, url, {"header": {"Accept-Language": language}})
        origin.script("/v-post", status=204)
        origin.scripts["/v"] = lambda seen, n: (
            Answer(204) if seen.method == "POST" else self.by_language(seen, n)
        )
        get(scheduler, url, {"method": "POST"})
        assert len(cache) == 0
        assert not get(scheduler, url, {"header": {"Accept-Language": "en"}}).from_cache


class TestInvalidation:
    """RFC 9111 §4.4 https://www.rfc-editor.org/rfc/rfc9111#section-4.4"""

    @staticmethod
    def prime(origin: ScriptedOrigin, scheduler: Scheduler, *paths: str) -> None:
        for path in paths:
            origin.script(path, headers=[("Cache-Control", "max-age=600")], body=path.encode())
            get(scheduler, f"{origin.url}{path}")
            assert get(scheduler, f"{origin.url}{path}").from_cache

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "PURGE"])
    def test_an_unsafe_method_invalidates_target_location_and_content_location(
        self, origin: ScriptedOrigin, scheduler: Scheduler, method: str
    ) -> None:
        self.prime(origin, scheduler, "/target", "/loc", "/cloc", "/other")
        answer = Answer(201, [("Location", "/loc"), ("Content-Location", f"{origin.url}/cloc")])
        origin.scripts["/target"] = lambda seen, n: (
            answer if seen.method == method else Answer(200, [("Cache-Control", "max-age=600")])
        )
        get(scheduler, f"{origin.url}/target", {"method": method})
        for path, cached in (
            ("/target", False),
            ("/loc", False),
            ("/cloc", False),
            ("/other", True),
        ):
            assert get(scheduler, f"{origin.url}{path}").from_cache is cached, path

    def test_a_redirected_post_invalidates_where_it_led(
        self, origin: ScriptedOrigin, scheduler: Scheduler
    ) -> None:
        """A 303 to /done is followed by the transport: /done is invalidated too."""
        self.prime(origin, scheduler, "/done")
        origin.script("/form", status=303, headers=[("Location", "/done")])
        response = get(scheduler, f"{origin.url}/form", {"method": "POST"})
        assert response.url.endswith("/done")
        assert not get(scheduler, f"{origin.url}/done").from_cache
        assert len(origin.seen("/done", "GET")) == 3  # primed, followed, asked again

    def test_an_error_invalidates_nothing(
        self, origin: ScriptedOrigin, scheduler: Scheduler
    ) -> None:
        self.prime(origin, scheduler, "/kept")
        origin.scripts["/kept"] = lambda seen, n: Answer(500) if seen.method == "POST" else Answer()
        get(scheduler, f"{origin.url}/kept", {"method": "POST"})
        assert get(scheduler, f"{origin.url}/kept").from_cache

    def test_a_streamed_post_invalidates(
        self, origin: ScriptedOrigin, scheduler: Scheduler
    ) -> None:
        self.prime(origin, scheduler, "/streamed")
        origin.scripts["/streamed"] = lambda seen, n: Answer(
            204 if seen.method == "POST" else 200, [("Cache-Control", "max-age=600")]
        )
        from netstack import create_http

        done = threading.Event()
        create_http(scheduler).request_in_stream(
            f"{origin.url}/streamed", {"method": "POST"}, lambda err, data: done.set()
        ).result(timeout=30)
        assert not get(scheduler, f"{origin.url}/streamed").from_cache


class TestStaleIfError:
    """RFC 5861 §4 https://www.rfc-editor.org/rfc/rfc5861#section-4"""

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_a_server_error_is_answered_with_the_stored_response(
        self, origin: ScriptedOrigin, scheduler: Scheduler, status: int
    ) -> None:
        headers = [("Cache-Control", "max-age=0, stale-if-error=60"), ("ETag", '"1"')]
        origin.script("/sie", headers=headers, body=b"good")
        assert get(scheduler, f"{origin.url}/sie").result == "good"
        origin.script("/sie", status=status, body=b"bad")
        again = get(scheduler, f"{origin.url}/sie")
        assert (again.response_code, again.result, again.from_cache) == (200, "good", True)
        assert len(origin.seen("/sie")) == 2

    def test_outside_the_window_the_error_comes_through(
        self, origin: ScriptedOrigin, scheduler: Scheduler
    ) -> None:
        origin.script(
            "/late", headers=[("Cache-Control", "max-age=0, stale-if-error=0"), ("Age", "5")]
        )
        get(scheduler, f"{origin.url}/late")
        origin.script("/late", status=503, body=b"down")
        assert get(scheduler, f"{origin.url}/late").response_code == 503

    def test_the_request_directive_alone_allows_it(
        self, origin: ScriptedOrigin, scheduler: Scheduler
    ) -> None:
        origin.script("/req", headers=[("Cache-Control", "max-age=0"), ("ETag", '"1"')], body=b"ok")
        get(scheduler, f"{origin.url}/req")
        origin.script("/req", status=500)
        plain = get(scheduler, f"{origin.url}/req")
        assert plain.response_code == 500
        asked = get(
            scheduler, f"{origin.url}/req", {"header": {"Cache-Control": "stale-if-error=60"}}
        )
        assert (asked.response_code, asked.result, asked.from_cache) == (200, "ok", True)

    def test_a_refused_connection_is_answered_with_the_stored_response(self) -> None:
        cache = HttpResponseCache(storage=MemoryStorage())
        with running_origin() as origin:
            headers = [("Cache-Control", "max-age=0, stale-if-error=60")]
            origin.script("/gone", headers=headers, body=b"remembered")
            url = f"{origin.url}/gone"
            with Scheduler(cache=cache, name="test-cache-sie-1") as scheduler:
                get(scheduler, url)
        # The origin is stopped: its port refuses connections now.
        with Scheduler(cache=cache, name="test-cache-sie-2") as scheduler:
            response = get(scheduler, url)
            assert (response.result, response.from_cache) == ("remembered", True)
            with pytest.raises(HttpError):
                scheduler.submit(url, {"header": {"Cache-Control": "no-cache"}}).result(30)
