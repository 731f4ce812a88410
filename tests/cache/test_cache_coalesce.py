"""Single-flight misses and stale-while-revalidate, through ``Scheduler.submit``.

Identical concurrent cacheable misses make one origin request (the others
wait and are served from the cache); what is not stored sends each waiter
to the origin; a waiter's abort and timeouts still hold; nothing deadlocks
with one worker. RFC 5861 §3: a stale response within stale-while-revalidate
is served at once, one background revalidation refreshes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import wait
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule
from scripted_origin import Answer, ScriptedOrigin, Seen, running_origin

from netstack import HttpError, HttpResponse, Scheduler
from netstack.cache import HttpResponseCache, MemoryStorage

pytestmark = pytest.mark.timeout(90)
FRESH = [("Cache-Control", "max-age=60")]


@pytest.fixture
def origin() -> Iterator[ScriptedOrigin]:
    with running_origin() as state:
        yield state


def burst(
    scheduler: Scheduler, url: str, count: int, options: dict[str, Any] | None = None
) -> list[HttpResponse]:
    futures = [scheduler.submit(url, options) for _ in range(count)]
    done, _ = wait(futures, timeout=60)
    assert len(done) == count
    responses = [f.result() for f in futures]
    assert all(isinstance(r, HttpResponse) for r in responses)
    return responses


def new_scheduler(workers: int = 16, per_host: int = 16) -> Scheduler:
    cache = HttpResponseCache(storage=MemoryStorage())
    return Scheduler(max_workers=workers, max_per_host=per_host, cache=cache, name="test-coalesce")


class TestSingleFlight:
    def test_identical_misses_make_one_origin_request(self, origin: ScriptedOrigin) -> None:
        origin.script("/slow", headers=FRESH, body=b"one answer", delay=0.5)
        with new_scheduler() as scheduler:
            responses = burst(scheduler, f"{origin.url}/slow", 12)
        assert len(origin.seen("/slow")) == 1
        assert {r.result for r in responses} == {"one answer"}
        assert sorted(r.from_cache for r in responses) == [False] + [True] * 11

    def test_more_requests_than_workers_still_one(self, origin: ScriptedOrigin) -> None:
        origin.script("/queued", headers=FRESH, body=b"q", delay=0.3)
        with new_scheduler(workers=3, per_host=3) as scheduler:
            responses = burst(scheduler, f"{origin.url}/queued", 20)
        assert len(origin.seen("/queued")) == 1
        assert sum(r.from_cache for r in responses) == 19

    def test_one_worker_never_deadlocks(self, origin: ScriptedOrigin) -> None:
        origin.script("/single", headers=FRESH, body=b"s", delay=0.1)
        with new_scheduler(workers=1, per_host=1) as scheduler:
            responses = burst(scheduler, f"{origin.url}/single", 6)
        assert len(origin.seen("/single")) == 1
        assert [r.from_cache for r in responses] == [False] + [True] * 5

    @pytest.mark.parametrize(
        "headers", [[("Cache-Control", "no-store")], [("Cache-Control", "max-age=0")], []]
    )
    def test_unstored_answers_send_each_waiter_to_the_origin(
        self, origin: ScriptedOrigin, headers: list[tuple[str, str]]
    ) -> None:
        def numbered(seen: Seen, count: int) -> Answer:
            return Answer(200, headers, f"answer {count}".encode(), delay=0.3)

        origin.scripts["/uncached"] = numbered
        with new_scheduler() as scheduler:
            responses = burst(scheduler, f"{origin.url}/uncached", 6)
            assert len(origin.seen("/uncached")) == 6
            assert not any(r.from_cache for r in responses)
            assert len({r.result for r in responses}) == 6  # each its own answer
            start = time.monotonic()
            burst(scheduler, f"{origin.url}/uncached", 6)  # remembered: nobody waits now
            assert time.monotonic() - start < 0.3 * 6

    def test_an_error_sends_each_waiter_to_the_origin(self, origin: ScriptedOrigin) -> None:
        origin.scripts["/flaky"] = lambda seen, n: (
            Answer(500, [], b"first fails", delay=0.3) if n == 0 else Answer(200, FRESH, b"ok")
        )
        with new_scheduler() as scheduler:
            responses = burst(scheduler, f"{origin.url}/flaky", 5)
        assert sorted(r.response_code for r in responses) == [200] * 4 + [500]

    def test_requests_the_cache_could_not_answer_never_wait(self, origin: ScriptedOrigin) -> None:
        origin.script("/busy", headers=FRESH, body=b"b", delay=0.5)
        with new_scheduler() as scheduler:
            leader = scheduler.submit(f"{origin.url}/busy")
            time.sleep(0.1)
            others = [
                scheduler.submit(f"{origin.url}/busy", {"header": {"Cache-Control": "no-cache"}}),
                scheduler.submit(f"{origin.url}/busy", {"header": {"Range": "bytes=0-0"}}),
                scheduler.submit(f"{origin.url}/busy", {"method": "POST"}),
            ]
            wait([leader, *others], timeout=30)
        assert origin.max_in_flight["/busy|"] == 4

    def test_different_headers_are_not_coalesced(self, origin: ScriptedOrigin) -> None:
        def by_language(seen: Seen, count: int) -> Answer:
            language = seen.headers.get("Accept-Language", "")
            vary = [*FRESH, ("Vary", "Accept-Language")]
            return Answer(200, vary, language.encode(), delay=0.3)

        origin.scripts["/lang"] = by_language
        with new_scheduler() as scheduler:
            futures = [
                scheduler.submit(f"{origin.url}/lang", {"header": {"Accept-Language": lang}})
                for lang in ("en", "fr", "en", "fr", "de")
            ]
            results = [f.result(30).result for f in futures]
        assert results == ["en", "fr", "en", "fr", "de"]
        assert len(origin.seen("/lang")) == 3

    def test_an_aborted_waiter_ends_at_once(self, origin: ScriptedOrigin) -> None:
        origin.script("/long", headers=FRESH, body=b"late", delay=3.0)
        with new_scheduler() as scheduler:
            leader = scheduler.submit(f"{origin.url}/long")
            time.sleep(0.2)
            waiter = scheduler.submit(f"{origin.url}/long")
            time.sleep(0.2)
            start = time.monotonic()
            assert waiter.abort()
            with pytest.raises(HttpError) as caught:
                waiter.result(timeout=10)
            assert caught.value.code == 2300042
            assert time.monotonic() - start < 1.5
            assert leader.result(timeout=10).result == "late"

    def test_a_waiters_total_timeout_ends_its_wait(self, origin: ScriptedOrigin) -> None:
        origin.script("/slow-total", headers=FRESH, body=b"late", delay=3.0)
        with new_scheduler() as scheduler:
            leader = scheduler.submit(f"{origin.url}/slow-total")
            time.sleep(0.2)
            start = time.monotonic()
            waiter = scheduler.submit(f"{origin.url}/slow-total", {"total_timeout": 400})
            with pytest.raises(HttpError):
                waiter.result(timeout=10)
            assert time.monotonic() - start < 2.0  # its own deadline, not the leader's 3 s
            assert leader.result(timeout=10).result == "late"

    def test_a_waiter_never_waits_past_its_own_timeouts(self, origin: ScriptedOrigin) -> None:
        origin.script("/stuck", headers=FRESH, body=b"late", delay=4.0)
        with new_scheduler() as scheduler:
            leader = scheduler.submit(f"{origin.url}/stuck")
            time.sleep(0.2)
            start = time.monotonic()
            waiter = scheduler.submit(
                f"{origin.url}/stuck", {"connect_timeout": 300, "read_timeout": 300}
            )
            with pytest.raises(HttpError) as caught:
                waiter.result(timeout=10)
            assert caught.value.code == 2300028  # its own read timeout, at the origin
            assert time.monotonic() - start < 3.0  # not the leader's 4 s
            leader.result(timeout=10)


class TestStaleWhileRevalidate:
    """RFC 5861 §3 https://www.rfc-editor.org/rfc/rfc5861#section-3"""

    DELAY = 2.0

    def revalidating_origin(self, origin: ScriptedOrigin, directive: str) -> None:
        def answer(seen: Seen, count: int) -> Answer:
            headers = [("Cache-Control", directive), ("ETag", '"v1"')]
            if count == 0:
                return Answer(200, headers, b"version 1")
            if seen.headers.get("If-None-Match") == '"v1"':
                return Answer(304, [("Cache-Control", "max-age=60")], delay=self.DELAY)
            return Answer(200, headers, b"unconditional", delay=self.DELAY)

        origin.scripts["/swr"] = answer

    @pytest.mark.parametrize(
        ("directive", "request_cc"),
        [
            ("max-age=0, stale-while-revalidate=60", None),
            ("max-age=0", "stale-while-revalidate=60"),
        ],
    )
    def test_stale_served_at_once_and_revalidated_once(
        self, origin: ScriptedOrigin, directive: str, request_cc: str | None
    ) -> None:
        self.revalidating_origin(origin, directive)
        options = None if request_cc is None else {"header": {"Cache-Control": request_cc}}
        with new_scheduler() as scheduler:
            first = scheduler.submit(f"{origin.url}/swr", options).result(30)
            assert first.result == "version 1"
            start = time.monotonic()
            responses = burst(scheduler, f"{origin.url}/swr", 5, options)
            elapsed = time.monotonic() - start
            assert elapsed < self.DELAY / 2
            assert all(r.from_cache and r.result == "version 1" for r in responses)
            deadline = time.monotonic() + 10
            while len(origin.seen("/swr")) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(self.DELAY + 0.5)  # the revalidation ends; nothing else may follow
            seen = origin.seen("/swr")
            assert len(seen) == 2
            assert seen[1].headers.get("If-None-Match") == '"v1"'
            after = scheduler.submit(f"{origin.url}/swr").result(30)
            assert after.from_cache  # freshened by the 304: max-age=60
            assert len(origin.seen("/swr")) == 2

    def test_outside_the_window_the_request_waits(self, origin: ScriptedOrigin) -> None:
        origin.script(
            "/old",
            headers=[("Cache-Control", "max-age=0, stale-while-revalidate=1"), ("Age", "100")],
            body=b"old",
        )
        with new_scheduler() as scheduler:
            scheduler.submit(f"{origin.url}/old").result(30)
            assert not scheduler.submit(f"{origin.url}/old").result(30).from_cache
        assert len(origin.seen("/old")) == 2


# -- the state machine ---------------------------------------------------------

DIRECTIVES = st.sampled_from(
    [
        [("Cache-Control", "max-age=60")],
        [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
        [("Cache-Control", "private, max-age=60")],
        [("Cache-Control", "no-store")],
        [("Cache-Control", "max-age=0")],
        [],
    ]
)
#: Responses stored fresh: with these the origin may see one request per key at a time.
FRESH_DIRECTIVES = ("max-age=60", "private, max-age=60")


class CoalescingMachine(RuleBasedStateMachine):
    """Bursts of concurrent submits over a few scripted paths with random cache headers.

    Every caller gets what it would have got without coalescing: the status
    its path answers, a body the origin produced for its own variant; and
    for stored-fresh paths the origin never has two requests for one
    coalesced key (path + Accept-Language) at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.context = running_origin()
        self.origin = self.context.__enter__()
        self.scheduler = new_scheduler(workers=8, per_host=8)
        self.paths: dict[str, tuple[int, list[tuple[str, str]]]] = {}
        self.produced: set[tuple[str, str]] = set()

    def teardown(self) -> None:
        self.scheduler.shutdown()
        self.context.__exit__(None, None, None)

    @rule(
        status=st.sampled_from([200, 200, 404, 500]),
        headers=DIRECTIVES,
        delay=st.sampled_from([0.0, 0.05, 0.2]),
    )
    def script(self, status: int, headers: list[tuple[str, str]], delay: float) -> None:
        path = f"/p{len(self.paths)}"  # a new path: nothing remembered about it
        self.paths[path] = (status, headers)

        def answer(seen: Seen, count: int) -> Answer:
            body = f"{seen.path}|{seen.headers.get('Accept-Language', '-')}|{count}"
            with self.origin.lock:
                self.produced.add((seen.path, body))
            return Answer(status, headers, body.encode(), delay)

        self.origin.scripts[path] = answer

    @rule(
        data=st.data(),
        languages=st.lists(st.sampled_from(["en", "fr", None]), min_size=1, max_size=6),
    )
    def submit_burst(self, data: st.DataObject, languages: list[str | None]) -> None:
        if not self.paths:
            return
        path = data.draw(st.sampled_from(sorted(self.paths)))
        futures = []
        for language in languages:
            header = {} if language is None else {"Accept-Language": language}
            futures.append(self.scheduler.submit(f"{self.origin.url}{path}", {"header": header}))
        status, headers = self.paths[path]
        for language, future in zip(languages, futures, strict=True):
            response = future.result(timeout=30)
            assert response.response_code == status
            got_path, got_language, _ = str(response.result).split("|")
            assert got_path == path
            varies = ("Vary", "Accept-Language") in headers
            if varies or not response.from_cache:
                assert got_language == (language or "-")
            assert (path, response.result) in self.produced
        directive = dict(headers).get("Cache-Control")
        if status != 500 and directive in FRESH_DIRECTIVES:
            for key, most in self.origin.max_in_flight.items():
                if key.startswith(f"{path}|"):
                    assert most <= 1, (key, most)


TestCoalescingMachine = CoalescingMachine.TestCase
TestCoalescingMachine.settings = settings(
    max_examples=8,
    stateful_step_count=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
