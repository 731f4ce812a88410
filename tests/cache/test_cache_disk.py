"""The disk tier: what loading skips (issue 19 bug 5), the byte bound, a full disk.

Loading: directories, FIFOs, unreadable, empty and truncated files named like
entries are skipped with one warning and the rest load; nothing hangs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from cache_helpers import T0, exchange

from netstack import HttpError
from netstack.cache import FileStorage, HttpResponseCache, MemoryStorage, driver_of

pytestmark = pytest.mark.timeout(60)
FRESH = [("Cache-Control", "max-age=600")]


def _filled(directory: Path, count: int, body: int = 100, **kwargs: Any) -> HttpResponseCache:
    cache = HttpResponseCache(directory=directory, **kwargs)
    for index in range(count):
        exchange(cache, f"https://h.test/{index}", headers=FRESH, body=b"x" * body, at=T0 + index)
    cache.flush().result()
    return cache


def _warnings(events: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in events if e["log_level"] == "warning"]


class TestLoadingSkipsWhatIsNotAnEntry:
    """Issue 19 bug 5, as a class: each kind of hostile file, then all at once."""

    @staticmethod
    def victims(directory: Path, count: int) -> list[Path]:
        _filled(directory, 10)
        files = sorted(directory.glob("*.entry"))
        assert len(files) == 10
        return files[:count]

    def make(self, kind: str, path: Path) -> None:
        if kind == "directory":
            path.unlink()
            path.mkdir()
            (path / "inside").write_bytes(b"x")
        elif kind == "fifo":
            path.unlink()
            os.mkfifo(path)
        elif kind == "unreadable":
            path.chmod(0)
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "truncated":
            path.write_bytes(path.read_bytes()[:-7])
        elif kind == "symlink":
            path.unlink()
            path.symlink_to("/dev/zero")
        else:
            raise AssertionError(kind)

    @pytest.mark.parametrize(
        "kind", ["directory", "fifo", "unreadable", "empty", "truncated", "symlink"]
    )
    def test_one_bad_file_skipped_with_one_warning(
        self, tmp_path: Path, kind: str, events: list[MutableMapping[str, Any]]
    ) -> None:
        if kind == "unreadable" and os.geteuid() == 0:
            pytest.skip("root reads a mode-0 file: see test_an_unreadable_file_as_root")
        (victim,) = self.victims(tmp_path, 1)
        self.make(kind, victim)
        events.clear()
        loaded = HttpResponseCache(directory=tmp_path)
        assert len(loaded) == 9
        warnings = _warnings(events)
        assert len(warnings) == 1, warnings
        assert warnings[0]["skipped"] == 1

    def test_every_kind_at_once(
        self, tmp_path: Path, events: list[MutableMapping[str, Any]]
    ) -> None:
        kinds = ["directory", "fifo", "empty", "truncated", "symlink"]
        for kind, victim in zip(kinds, self.victims(tmp_path, len(kinds)), strict=True):
            self.make(kind, victim)
        events.clear()
        loaded = HttpResponseCache(directory=tmp_path)
        assert len(loaded) == 10 - len(kinds)
        (warning,) = _warnings(events)
        assert warning["skipped"] == len(kinds)
        assert (tmp_path / "fifo").exists() is False  # nothing else created
        # Ours and damaged: removed. Not ours to delete: left alone.
        assert sum(1 for p in tmp_path.iterdir() if p.is_dir()) == 1

    def test_a_fifo_never_hangs_cache_creation(self, tmp_path: Path) -> None:
        """In a subprocess with a deadline: a blocking open of a FIFO would hang forever."""
        (victim,) = self.victims(tmp_path, 1)
        self.make("fifo", victim)
        code = (
            "import sys; from netstack.cache import HttpResponseCache; "
            f"print(len(HttpResponseCache(directory={str(tmp_path)!r})))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
        )
        assert done.stdout.strip() == "9"

    def test_an_unreadable_file_as_root(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        events: list[MutableMapping[str, Any]],
    ) -> None:
        """Root reads a mode-0 file, so EACCES is simulated at ``os.open`` for it."""
        (victim,) = self.victims(tmp_path, 1)
        real_open = os.open

        def refusing(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if Path(path) == victim:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing)
        events.clear()
        assert len(HttpResponseCache(directory=tmp_path)) == 9
        (warning,) = _warnings(events)
        assert warning["skipped"] == 1
        assert victim.exists()  # not ours to judge: left in place


class TestDiskBound:
    """FileStorage's own byte bound, LRU by last write or read, across flushes."""

    @staticmethod
    def disk_bytes(directory: Path) -> int:
        return sum(p.stat().st_size for p in directory.glob("*.entry"))

    def test_the_bound_holds_across_flushes(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path, max_bytes=5000)
        for round_ in range(5):  # each round a new cache: memory alone never bounds the disk
            cache = HttpResponseCache(storage=storage)
            for index in range(10):
                url = f"https://h.test/{round_}/{index}"
                exchange(cache, url, headers=FRESH, body=b"y" * 300, at=T0 + round_ * 100 + index)
            cache.flush().result()
            assert self.disk_bytes(tmp_path) <= 5000
        survivors = HttpResponseCache(storage=FileStorage(tmp_path))
        urls = {entry.url for entry in driver_of(survivors).held().values()}
        assert urls
        assert all(url.startswith("https://h.test/4/") for url in urls)

    def test_default_bound_is_the_cache_size(self, tmp_path: Path) -> None:
        cache = HttpResponseCache(4000, directory=tmp_path)
        storage = cache.storage
        assert isinstance(storage, FileStorage)
        assert storage.max_bytes == 4000
        given = FileStorage(tmp_path, max_bytes=123)
        assert HttpResponseCache(4000, storage=given).storage is given
        assert given.max_bytes == 123

    def test_a_read_makes_an_entry_recent(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path)
        storage.put("old", b"a" * 1000)
        storage.put("new", b"b" * 1000)
        assert storage.get("old") == b"a" * 1000  # unbounded: no recency kept
        bounded = FileStorage(tmp_path, max_bytes=10_000)
        assert bounded.get("old") is not None  # now the most recent
        bounded.trim(1500)
        assert dict(bounded.items()) == {"old": b"a" * 1000}

    def test_bad_bound_is_a_parameter_error(self, tmp_path: Path) -> None:
        with pytest.raises(HttpError) as caught:
            FileStorage(tmp_path, max_bytes=-1)
        assert caught.value.code == 401


@contextlib.contextmanager
def _tiny_tmpfs(path: Path, size: str) -> Iterator[bool]:
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    try:
        yield done.returncode == 0
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


class _FullDisk(FileStorage):
    """A FileStorage whose writes fail with ENOSPC once ``room`` bytes were written."""

    def __init__(self, directory: Path, room: int) -> None:
        super().__init__(directory)
        self.room = room

    def put_many(self, pairs: Any) -> None:
        def metered() -> Iterator[tuple[str, bytes]]:
            for key, data in pairs:
                self.room -= len(data)
                if self.room < 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                yield key, data

        super().put_many(metered())


class TestDiskFull:
    """A full disk: flush's future fails with 2300023, the old entries stay whole."""

    def check(self, directory: Path, storage: FileStorage | None) -> None:
        first = (
            HttpResponseCache(storage=storage)
            if storage
            else HttpResponseCache(directory=directory)
        )
        for index in range(5):
            exchange(first, f"https://h.test/{index}", headers=FRESH, body=b"o" * 1000)
        assert first.flush().result() is None
        before = {p.name: p.read_bytes() for p in directory.glob("*.entry")}
        for index in range(5, 200):
            exchange(first, f"https://h.test/{index}", headers=FRESH, body=b"n" * 1000)
        errors: list[HttpError | None] = []
        future = first.flush(errors.append)
        with pytest.raises(HttpError) as caught:
            future.result()
        assert caught.value.code == 2300023
        assert errors == [caught.value]
        assert not list(directory.glob(".tmp-*"))
        after = {p.name: p.read_bytes() for p in directory.glob("*.entry")}
        assert {name: after.get(name) for name in before} == before  # intact
        reloaded = HttpResponseCache(storage=FileStorage(directory))
        assert len(reloaded) >= 5

    def test_a_real_full_tmpfs(self, tmp_path: Path) -> None:
        directory = tmp_path / "tiny"
        with _tiny_tmpfs(directory, "64k") as mounted:
            if not mounted:
                pytest.skip("mount not permitted here: the ENOSPC wrapper test covers it")
            self.check(directory, None)

    def test_enospc_from_a_storage_wrapper(self, tmp_path: Path) -> None:
        self.check(tmp_path, _FullDisk(tmp_path, room=5 * 1400 + 20_000))


class TestWriteThrough:
    """Issue 13: cache sharing by composition, over any CacheStorage."""

    def test_two_caches_share_one_storage_at_once(self) -> None:
        storage = MemoryStorage()
        first = HttpResponseCache(storage=storage, write_through=True)
        second = HttpResponseCache(storage=storage, write_through=True)
        exchange(first, headers=FRESH, body=b"shared")
        lookup = driver_of(second).lookup("GET", "https://example.test/resource", {}, T0)
        assert lookup.action == "fresh"
        assert lookup.response is not None
        assert lookup.response.body == b"shared"

    def test_an_invalidation_reaches_the_storage_at_once(self) -> None:
        storage = MemoryStorage()
        first = HttpResponseCache(storage=storage, write_through=True)
        exchange(first, headers=FRESH)
        second = HttpResponseCache(storage=storage, write_through=True)
        exchange(second, method="POST", status=204)
        assert len(storage) == 0
        assert (
            driver_of(first).lookup("GET", "https://example.test/resource", {}, T0).action
            == "fresh"
        )

    def test_private_responses_stay_local(self) -> None:
        storage = MemoryStorage()
        cache = HttpResponseCache(storage=storage, write_through=True)
        exchange(cache, headers=[("Cache-Control", "max-age=60, private")])
        assert len(storage) == 0
        assert (
            driver_of(cache).lookup("GET", "https://example.test/resource", {}, T0).action
            == "fresh"
        )

    def test_flush_deletes_nothing_of_the_others(self) -> None:
        storage = MemoryStorage()
        first = HttpResponseCache(storage=storage, write_through=True)
        exchange(first, "https://h.test/a", headers=FRESH)
        second = HttpResponseCache(storage=storage, write_through=True)
        exchange(second, "https://h.test/b", headers=FRESH)
        second.flush().result()
        assert len(storage) == 2

    def test_storage_trouble_is_a_miss(self, events: list[MutableMapping[str, Any]]) -> None:
        class Broken(MemoryStorage):
            def get(self, key: str) -> bytes | None:
                raise OSError("down")

            def put(self, key: str, data: bytes) -> None:
                raise OSError("down")

        cache = HttpResponseCache(storage=Broken(), write_through=True)
        lookup, _ = exchange(cache, headers=FRESH)
        assert lookup.action == "miss"
        assert (
            driver_of(cache).lookup("GET", "https://example.test/resource", {}, T0).action
            == "fresh"
        )
        with pytest.raises(HttpError):
            cache.flush().result()
        assert {e["event"] for e in _warnings(events)} >= {
            "cache_read_through_failed",
            "cache_write_through_failed",
        }

    def test_variants_share_the_latest_one(self) -> None:
        storage = MemoryStorage()
        first = HttpResponseCache(storage=storage, write_through=True)
        vary = [*FRESH, ("Vary", "Accept")]
        exchange(first, headers=vary, body=b"json", request_headers={"Accept": "a/json"})
        second = HttpResponseCache(storage=storage, write_through=True)
        hit = driver_of(second).lookup(
            "GET", "https://example.test/resource", {"Accept": "a/json"}, T0
        )
        miss = driver_of(second).lookup(
            "GET", "https://example.test/resource", {"Accept": "a/xml"}, T0
        )
        assert (hit.action, miss.action) == ("fresh", "miss")
