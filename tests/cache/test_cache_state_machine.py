"""A stateful model of the whole cache: store, look up, revalidate (304), evict,
invalidate, flush, reload from storage, delete — checked against a simple dict.

Freshness: RFC 9111 §4.2 https://www.rfc-editor.org/rfc/rfc9111#section-4.2;
304 handling §4.3.4; invalidation §4.4.
"""

from __future__ import annotations

from dataclasses import dataclass

from cache_helpers import T0
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from netstack.cache import HttpResponseCache, MemoryStorage, driver_of

CACHE_SIZE = 2000
urls = st.sampled_from([f"https://h.test/{name}" for name in "abc"])
#: Lifetimes and clock steps chosen so that ages land on freshness boundaries.
lifetimes = st.sampled_from([0, 1, 5, 30, 60])
steps = st.sampled_from([0, 1, 4, 5, 6, 29, 30, 31, 100])


@dataclass
class Model:
    body: bytes
    response_time: float
    max_age: int

    def fresh(self, now: float) -> bool:
        return now - self.response_time < self.max_age


class CacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.storage = MemoryStorage()
        self.cache = HttpResponseCache(CACHE_SIZE, storage=self.storage)
        self.now = T0
        self.model: dict[str, Model] = {}
        self.persisted: dict[str, Model] = {}
        self.flushed: set[str] = set()  # the keys the storage should hold
        self.enabled = True

    def key(self, url: str) -> str:
        return f"GET {url}"

    def in_memory(self, url: str) -> bool:
        return self.key(url) in driver_of(self.cache).held()

    @rule(seconds=steps)
    def advance(self, seconds: int) -> None:
        self.now += seconds

    @rule(url=urls, body=st.binary(max_size=700), max_age=lifetimes)
    def store(self, url: str, body: bytes, max_age: int) -> None:
        lookup = driver_of(self.cache).lookup("GET", url, {"Cache-Control": "no-cache"}, self.now)
        headers = [("Cache-Control", f"max-age={max_age}"), ("ETag", f'"{len(body)}"')]
        served = driver_of(self.cache).complete(lookup, 200, headers, body, self.now, self.now)
        assert served is None
        if self.enabled:
            self.model[url] = Model(body, self.now, max_age)

    @invariant()
    def every_lookup_agrees_with_the_model(self) -> None:
        for name in "abc":
            self.look_up(f"https://h.test/{name}")

    def look_up(self, url: str) -> None:
        lookup = driver_of(self.cache).lookup("GET", url, {}, self.now)
        expected = self.model.get(url)
        if lookup.action == "fresh":
            assert expected is not None
            assert lookup.response is not None
            assert lookup.response.body == expected.body
            assert expected.fresh(self.now)
        elif expected is not None and self.in_memory(url):
            assert lookup.action == ("fresh" if expected.fresh(self.now) else "revalidate")
        else:
            assert lookup.action == "miss"

    @rule(url=urls, max_age=lifetimes)
    def revalidate(self, url: str, max_age: int) -> None:
        lookup = driver_of(self.cache).lookup("GET", url, {}, self.now)
        if lookup.action != "revalidate":
            return
        assert "If-None-Match" in lookup.conditional_headers
        served = driver_of(self.cache).complete(
            lookup, 304, [("Cache-Control", f"max-age={max_age}")], b"", self.now, self.now
        )
        expected = self.model[url]
        assert served is not None
        assert (served.status, served.body) == (200, expected.body)
        self.model[url] = Model(expected.body, self.now, max_age)

    @rule(url=urls, method=st.sampled_from(["POST", "PUT", "DELETE", "PATCH"]))
    def invalidate(self, url: str, method: str) -> None:
        lookup = driver_of(self.cache).lookup(method, url, {}, self.now)
        assert driver_of(self.cache).complete(lookup, 204, [], b"", self.now, self.now) is None
        self.model.pop(url, None)

    @rule()
    def flush(self) -> None:
        self.cache.flush().result()
        self.persisted = {u: m for u, m in self.model.items() if self.in_memory(u)}
        self.flushed = set(driver_of(self.cache).held())

    @rule()
    def reload(self) -> None:
        self.cache = HttpResponseCache(CACHE_SIZE, storage=self.storage)
        self.enabled = True
        self.model = dict(self.persisted)

    @rule()
    def delete(self) -> None:
        self.cache.delete().result()
        self.enabled = False
        self.model.clear()
        self.persisted.clear()
        self.flushed.clear()

    @invariant()
    def memory_is_bounded_and_known(self) -> None:
        assert self.cache.stats().bytes <= CACHE_SIZE
        for key, entry in driver_of(self.cache).held().items():
            assert entry.key == key
            assert entry.url in self.model
            assert entry.body == self.model[entry.url].body

    @invariant()
    def storage_mirrors_memory_as_of_the_last_flush(self) -> None:
        assert {key for key, _ in self.storage.items()} == self.flushed
        assert {self.key(u) for u in self.persisted} == self.flushed


CacheMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30)
TestCacheMachine = CacheMachine.TestCase
