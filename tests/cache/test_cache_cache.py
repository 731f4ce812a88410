"""HttpResponseCache: creation, install, flush/delete, persistence across instances and processes.

Seed: createHttpResponseCache, HttpResponseCache.flush/delete.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from cache_helpers import T0, URL, exchange

import netstack.cache as cache_pkg
import netstack.cache.install as install_module
from netstack.cache import (
    DEFAULT_CACHE_SIZE,
    FileStorage,
    HttpResponseCache,
    MemoryStorage,
    create_http_response_cache,
    driver_of,
    installed_cache,
)
from netstack.errors import HttpError

FRESH = [("Cache-Control", "max-age=3600"), ("Set-Cookie", "id=1"), ("ETag", '"v"')]


class TestCreation:
    def test_defaults(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        cache = HttpResponseCache()
        assert cache.cache_size == DEFAULT_CACHE_SIZE == 10 * 1024 * 1024
        assert isinstance(cache.storage, FileStorage)
        assert cache.storage.directory == tmp_path / "xdg" / "netstack"
        assert not (tmp_path / "xdg").exists()  # nothing is written before flush()

    def test_relative_xdg_is_ignored(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
        monkeypatch.setenv("HOME", str(tmp_path))
        storage = HttpResponseCache().storage
        assert isinstance(storage, FileStorage)
        assert storage.directory == tmp_path / ".cache" / "netstack"

    @pytest.mark.parametrize("bad", [-1, 1.5, "10", True, None])
    def test_bad_cache_size_is_a_parameter_error(self, bad: object) -> None:
        with pytest.raises(HttpError, match="cache_size") as info:
            HttpResponseCache(bad, storage=MemoryStorage())  # type: ignore[arg-type]
        assert info.value.code == 401

    def test_size_beyond_the_seeds_10_mib_is_accepted(self) -> None:
        assert HttpResponseCache(64 * 2**20, storage=MemoryStorage()).cache_size == 64 * 2**20

    def test_directory_and_storage_are_exclusive(self, tmp_path: Path) -> None:
        with pytest.raises(HttpError, match="directory"):
            HttpResponseCache(directory=tmp_path, storage=MemoryStorage())

    def test_create_installs_and_a_newer_call_replaces(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(install_module, "_installed", None)  # restored after the test
        assert installed_cache() is None
        first = create_http_response_cache(storage=MemoryStorage())
        assert installed_cache() is first
        second = create_http_response_cache(1024, storage=MemoryStorage())
        assert installed_cache() is second
        assert HttpResponseCache(storage=MemoryStorage()) is not installed_cache()

    def test_zero_size_stores_nothing(self) -> None:
        cache = HttpResponseCache(0, storage=MemoryStorage())
        exchange(cache, headers=FRESH)
        assert len(cache) == 0

    def test_entry_larger_than_the_cache_is_not_stored(self) -> None:
        cache = HttpResponseCache(1000, storage=MemoryStorage())
        exchange(cache, headers=FRESH, body=b"x" * 1001)
        assert len(cache) == 0
        exchange(cache, headers=FRESH, body=b"x" * 100)
        assert len(cache) == 1

    def test_repr_summarises_state(self) -> None:
        cache = HttpResponseCache(2048, storage=MemoryStorage())
        assert repr(cache) == "<HttpResponseCache [0 entries, 0 of 2048 bytes | enabled]>"
        cache.delete()
        assert repr(cache).endswith("| deleted]>")


class TestPersistence:
    def test_flush_then_a_new_cache_serves_fresh_without_network(self, tmp_path: Path) -> None:
        first = HttpResponseCache(directory=tmp_path)
        exchange(first, headers=FRESH, body=b"persisted")
        assert first.flush().result() is None
        second = HttpResponseCache(directory=tmp_path)
        lookup = driver_of(second).lookup("GET", URL, {}, T0 + 60)
        assert lookup.action == "fresh"
        assert lookup.response is not None
        assert lookup.response.body == b"persisted"
        assert ("Set-Cookie", "id=1") in lookup.response.headers

    def test_flush_persists_times_exactly(self, tmp_path: Path) -> None:
        first = HttpResponseCache(directory=tmp_path)
        look = driver_of(first).lookup("GET", URL, {}, T0)
        driver_of(first).complete(look, 200, FRESH, b"b", T0 - 0.5, T0 + 0.25)
        first.flush().result()
        (entry,) = driver_of(HttpResponseCache(directory=tmp_path)).held().values()
        assert (entry.request_time, entry.response_time) == (T0 - 0.5, T0 + 0.25)

    def test_invalidated_and_evicted_entries_leave_storage_on_flush(self) -> None:
        storage = MemoryStorage()
        cache = HttpResponseCache(600, storage=storage)
        exchange(cache, "https://h/a", headers=FRESH, body=b"a" * 100)
        exchange(cache, "https://h/b", headers=FRESH, body=b"b" * 100)
        cache.flush().result()
        assert len(storage) == 2
        exchange(cache, "https://h/a", method="POST", status=204)
        exchange(cache, "https://h/c", headers=FRESH, body=b"c" * 450)  # evicts b
        cache.flush().result()
        assert {k for k, _ in storage.items()} == {"GET https://h/c"}

    def test_second_flush_writes_only_changes(self) -> None:
        class Counting(MemoryStorage):
            puts = 0

            def put(self, key: str, data: bytes) -> None:
                Counting.puts += 1
                super().put(key, data)

        cache = HttpResponseCache(storage=Counting())
        exchange(cache, "https://h/a", headers=FRESH)
        exchange(cache, "https://h/b", headers=FRESH)
        cache.flush().result()
        cache.flush().result()
        assert Counting.puts == 2

    def test_unreadable_entry_is_dropped_on_load(
        self, events: list[MutableMapping[str, Any]]
    ) -> None:
        storage = MemoryStorage()
        storage.put(f"GET {URL}", b"not an entry")
        cache = HttpResponseCache(storage=storage)
        assert len(cache) == 0
        assert len(storage) == 0
        (warning,) = [e for e in events if e["log_level"] == "warning"]
        assert (warning["event"], warning["key"]) == ("cache_entry_unreadable", f"GET {URL}")

    def test_loading_fills_at_most_cache_size(self) -> None:
        storage = MemoryStorage()
        big = HttpResponseCache(storage=storage)
        for i in range(10):
            exchange(big, f"https://h/{i}", headers=FRESH, body=b"x" * 100, at=T0 + i)
        big.flush().result()
        small = HttpResponseCache(700, storage=storage)
        assert 0 < len(small) < 10
        assert small.stats().bytes <= 700
        kept = set(driver_of(small).held())
        assert "GET https://h/9" in kept  # the newest survive

    def test_flush_in_one_process_serves_in_another(self, tmp_path: Path) -> None:
        cache = HttpResponseCache(directory=tmp_path)
        exchange(cache, headers=FRESH, body=b"across processes", at=T0)
        cache.flush().result()
        script = textwrap.dedent(f"""
            from netstack.cache import HttpResponseCache, driver_of
            lookup = driver_of(HttpResponseCache(directory={str(tmp_path)!r})).lookup(
                "GET", {URL!r}, {{}}, {T0 + 10!r})
            print(lookup.action, lookup.response.body.decode())
        """)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=60,
        )
        assert out.stdout.strip() == "fresh across processes"
        assert out.stderr == ""


class TestStorageTrouble:
    def unwritable(self, tmp_path: Path) -> Path:
        (tmp_path / "file").write_text("a file where a directory should be")
        return tmp_path / "file" / "cache"

    def test_creation_works_and_flush_reports(self, tmp_path: Path) -> None:
        directory = self.unwritable(tmp_path)
        cache = HttpResponseCache(directory=directory)
        exchange(cache, headers=FRESH)
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "fresh"  # memory still works
        errors: list[HttpError | None] = []
        future = cache.flush(errors.append)
        with pytest.raises(HttpError) as info:
            future.result()
        assert info.value.code == 2300023
        assert str(directory) in str(info.value)
        assert errors == [info.value]
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "fresh"

    def test_failed_flush_is_retried_by_the_next(self, tmp_path: Path) -> None:
        class Flaky(MemoryStorage):
            fail = True

            def put(self, key: str, data: bytes) -> None:
                if Flaky.fail:
                    raise OSError("disk full")
                super().put(key, data)

        storage = Flaky()
        cache = HttpResponseCache(storage=storage)
        exchange(cache, headers=FRESH)
        assert isinstance(cache.flush().exception(), HttpError)
        Flaky.fail = False
        cache.flush().result()
        assert len(storage) == 1

    def test_unreadable_storage_starts_empty_with_a_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Storage trouble is a WARNING on the stdlib logger ``netstack``, whatever the config."""

        class Broken(MemoryStorage):
            def items(self):  # type: ignore[no-untyped-def]
                raise OSError("permission denied")

        with caplog.at_level(logging.WARNING, logger="netstack"):
            cache = HttpResponseCache(storage=Broken())
        assert len(cache) == 0
        (record,) = caplog.records
        assert record.levelno == logging.WARNING
        assert "cache_load_failed" in record.getMessage()
        assert "permission denied" in record.getMessage()

    def test_callback_exceptions_are_logged_not_raised(
        self, events: list[MutableMapping[str, Any]]
    ) -> None:
        def boom(err: HttpError | None) -> None:
            raise RuntimeError("user bug")

        cache = HttpResponseCache(storage=MemoryStorage())
        assert cache.flush(boom).result() is None
        assert cache.delete(boom).result() is None
        failures = [e for e in events if e["event"] == "cache_callback_failed"]
        assert [e["error"] for e in failures] == ["RuntimeError('user bug')"] * 2

    def test_success_prints_nothing(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        cache = HttpResponseCache(directory=tmp_path / "quiet")
        exchange(cache, headers=FRESH)
        cache.flush().result()
        HttpResponseCache(directory=tmp_path / "quiet")
        assert capfd.readouterr() == ("", "")


class TestDelete:
    def test_delete_wipes_memory_and_disk_and_disables(self, tmp_path: Path) -> None:
        cache = HttpResponseCache(directory=tmp_path / "c")
        exchange(cache, headers=FRESH)
        cache.flush().result()
        calls: list[HttpError | None] = []
        assert cache.delete(calls.append).result() is None
        assert calls == [None]
        assert not cache.enabled
        assert len(cache) == 0
        assert not (tmp_path / "c").exists()
        assert driver_of(cache).lookup("GET", URL, {}, T0).action == "miss"
        _, served = exchange(cache, headers=FRESH)
        assert served is None
        assert len(cache) == 0
        cache.flush().result()
        assert not (tmp_path / "c").exists()
        assert len(HttpResponseCache(directory=tmp_path / "c")) == 0

    def test_delete_failure_is_reported(self) -> None:
        class Stuck(MemoryStorage):
            def clear(self) -> None:
                raise PermissionError("read-only file system")

        cache = HttpResponseCache(storage=Stuck())
        errors: list[HttpError | None] = []
        with pytest.raises(HttpError, match="read-only"):
            cache.delete(errors.append).result()
        assert len(errors) == 1
        assert not cache.enabled

    def test_only_if_cached_after_delete_is_unsatisfiable(self) -> None:
        cache = HttpResponseCache(storage=MemoryStorage())
        exchange(cache, headers=FRESH)
        cache.delete()
        lookup = driver_of(cache).lookup("GET", URL, {"Cache-Control": "only-if-cached"}, T0)
        assert lookup.action == "unsatisfiable"


def test_package_exports() -> None:
    assert set(cache_pkg.__all__) >= {
        "HttpResponseCache",
        "create_http_response_cache",
        "installed_cache",
        "CacheStorage",
        "FileStorage",
        "MemoryStorage",
        "CacheLookup",
        "CachedResponse",
    }
