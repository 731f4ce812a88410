"""What a cache tells its owner: hit/miss counters, ``stats()``, and DEBUG events.

The events go through ``netstack.log`` (structlog over the stdlib logger
``netstack``); a program that configures nothing sees nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from cache_helpers import T0, URL, exchange

from netstack.cache import CacheStats, HttpResponseCache, MemoryStorage, driver_of

FRESH = [("Cache-Control", "max-age=60")]
VALIDATED = [("Cache-Control", "max-age=0"), ("ETag", '"v1"')]
Events = list[MutableMapping[str, Any]]


def names(events: Events) -> list[str]:
    return [e["event"] for e in events]


class TestCounters:
    def test_a_new_cache_counts_nothing(self, cache: HttpResponseCache) -> None:
        assert (cache.hits, cache.misses) == (0, 0)
        assert cache.stats() == CacheStats(
            hits=0, misses=0, revalidated=0, stored=0, evicted=0, entries=0, bytes=0
        )

    def test_fresh_lookups_are_hits_others_misses(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH)  # miss, stored
        for _ in range(3):
            assert driver_of(cache).lookup("GET", URL, {}, T0 + 1).action == "fresh"
        assert (
            driver_of(cache).lookup("GET", URL, {}, T0 + 61).action == "miss"
        )  # stale, no validator
        driver_of(cache).lookup(
            "GET", "https://example.test/other", {"Cache-Control": "only-if-cached"}, T0
        )
        assert (cache.hits, cache.misses) == (3, 3)

    def test_unsafe_methods_are_neither(self, cache: HttpResponseCache) -> None:
        driver_of(cache).lookup("POST", URL, {}, T0)
        driver_of(cache).lookup("DELETE", URL, {}, T0)
        assert (cache.hits, cache.misses) == (0, 0)

    def test_stats_counts_stores_revalidations_and_evictions(self) -> None:
        cache = HttpResponseCache(800, storage=MemoryStorage())
        exchange(cache, "https://h/v", headers=VALIDATED, body=b"v" * 100)
        lookup = driver_of(cache).lookup("GET", "https://h/v", {}, T0 + 5)
        assert lookup.action == "revalidate"
        served = driver_of(cache).complete(lookup, 304, [("ETag", '"v1"')], b"", T0 + 5, T0 + 5)
        assert served is not None
        exchange(cache, "https://h/a", headers=FRESH, body=b"a" * 300)
        exchange(cache, "https://h/b", headers=FRESH, body=b"b" * 300)  # evicts /v
        exchange(cache, "https://h/huge", headers=FRESH, body=b"h" * 801)  # never stored
        stats = cache.stats()
        assert (stats.misses, stats.revalidated, stats.stored, stats.evicted) == (5, 1, 4, 1)
        assert stats.entries == len(cache) == 2
        assert 600 < stats.bytes <= 800

    def test_counts_are_exact_across_threads(self, cache: HttpResponseCache) -> None:
        exchange(cache, headers=FRESH)

        def look() -> None:
            for _ in range(2000):
                driver_of(cache).lookup("GET", URL, {}, T0 + 1)

        threads = [threading.Thread(target=look) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert (cache.hits, cache.misses) == (8000, 1)


class TestEvents:
    def test_miss_store_hit(self, cache: HttpResponseCache, events: Events) -> None:
        exchange(cache, headers=FRESH)
        driver_of(cache).lookup("GET", URL, {}, T0 + 1)
        assert names(events) == ["cache_miss", "cache_stored", "cache_fresh_hit"]
        miss, stored, hit = events
        assert (miss["key"], miss["action"], miss["log_level"]) == (f"GET {URL}", "miss", "debug")
        assert (stored["key"], stored["status"]) == (f"GET {URL}", 200)
        assert hit["key"] == f"GET {URL}"

    def test_revalidated(self, cache: HttpResponseCache, events: Events) -> None:
        exchange(cache, headers=VALIDATED)
        lookup = driver_of(cache).lookup("GET", URL, {}, T0 + 5)
        driver_of(cache).complete(lookup, 304, [("ETag", '"v1"')], b"", T0 + 5, T0 + 5)
        assert names(events)[-3:] == ["cache_miss", "cache_revalidated", "cache_stored"]
        assert events[-3]["action"] == "revalidate"

    def test_evicted_invalidated_and_too_large(self, events: Events) -> None:
        cache = HttpResponseCache(500, storage=MemoryStorage())
        exchange(cache, "https://h/a", headers=FRESH, body=b"a" * 300)
        exchange(cache, "https://h/b", headers=FRESH, body=b"b" * 300)
        exchange(cache, "https://h/b", method="POST", status=204)
        exchange(cache, "https://h/c", headers=FRESH, body=b"c" * 600)
        evicted = [e for e in events if e["event"] == "cache_evicted"]
        assert [(e["key"], e["reason"]) for e in evicted] == [("GET https://h/a", "lru")]
        (invalidated,) = [e for e in events if e["event"] == "cache_invalidated"]
        assert (invalidated["key"], invalidated["by"]) == ("GET https://h/b", "POST https://h/b")
        (refused,) = [e for e in events if e["event"] == "cache_not_stored"]
        assert refused["key"] == "GET https://h/c"

    def test_flush_load_and_delete(self, tmp_path: Path, events: Events) -> None:
        cache = HttpResponseCache(directory=tmp_path / "c")
        exchange(cache, headers=FRESH)
        cache.flush().result()
        HttpResponseCache(directory=tmp_path / "c")
        cache.delete().result()
        lifecycle = [
            e for e in events if e["event"] in {"cache_flushed", "cache_loaded", "cache_deleted"}
        ]
        assert [(e["event"], e.get("written"), e.get("entries")) for e in lifecycle] == [
            ("cache_loaded", None, 0),
            ("cache_flushed", 1, None),
            ("cache_loaded", None, 1),
            ("cache_deleted", None, None),
        ]

    def test_unusable_directory_warns_at_creation_and_flush(
        self, tmp_path: Path, events: Events
    ) -> None:
        (tmp_path / "file").write_text("not a directory")
        cache = HttpResponseCache(directory=tmp_path / "file" / "cache")
        exchange(cache, headers=FRESH)
        assert cache.flush().exception() is not None
        warnings = [e for e in events if e["log_level"] == "warning"]
        assert [e["event"] for e in warnings] == ["cache_load_failed", "cache_flush_failed"]
        assert str(tmp_path / "file") in warnings[1]["error"]


def test_a_program_that_configures_nothing_sees_nothing(tmp_path: Path) -> None:
    """Miss, store, hit, revalidate, evict, invalidate, flush, load, delete: not one line."""
    script = textwrap.dedent(f"""
        from netstack.cache import HttpResponseCache, driver_of
        cache = HttpResponseCache(300, directory={str(tmp_path / "c")!r})
        def exchange(url, headers, status=200, method="GET", body=b"x" * 100, at=0.0):
            driver = driver_of(cache)
            lookup = driver.lookup(method, url, {{}}, {T0!r} + at)
            return driver.complete(lookup, status, headers, body, {T0!r} + at, {T0!r} + at)
        exchange("https://h/a", [("Cache-Control", "max-age=60")])
        exchange("https://h/a", [("Cache-Control", "max-age=60")])
        exchange("https://h/v", [("Cache-Control", "max-age=0"), ("ETag", '"1"')])
        exchange("https://h/v", [("ETag", '"1"')], status=304, at=1)
        exchange("https://h/b", [("Cache-Control", "max-age=60")], body=b"b" * 200)
        exchange("https://h/b", [], status=204, method="POST")
        cache.flush().result()
        HttpResponseCache(directory={str(tmp_path / "c")!r})
        cache.delete().result()
        assert cache.stats().hits == 1, cache.stats()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
