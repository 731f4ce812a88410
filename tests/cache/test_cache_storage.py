"""Storages and the entry format: FileStorage (atomic files, 0600, corruption) and MemoryStorage."""

from __future__ import annotations

import os
import stat
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from cache_helpers import T0, URL

import netstack.cache.storage as storage_module
from netstack.cache import CacheEntry, CacheStorage, FileStorage, MemoryStorage


def sample_entry(body: bytes = b"\x00body\xff") -> CacheEntry:
    return CacheEntry(
        key=f"GET {URL}",
        url=URL,
        vary=(("accept", "a/b"), ("x-none", None)),
        status=200,
        headers=(("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Ü", "ünïcode")),
        body=body,
        request_time=T0 - 0.25,
        response_time=T0,
    )


class TestEntryFormat:
    def test_round_trip(self) -> None:
        entry = sample_entry()
        assert CacheEntry.from_bytes(entry.to_bytes()) == entry

    def test_format_is_self_describing_json_then_body(self) -> None:
        data = sample_entry(b"BODY").to_bytes()
        assert data.startswith(b"netstack-cache-entry 1\n{")
        assert data.endswith(b"}\nBODY")

    @pytest.mark.parametrize("cut", [0, 5, 30, -1])
    def test_truncation_is_detected(self, cut: int) -> None:
        with pytest.raises(ValueError, match="entry"):
            CacheEntry.from_bytes(sample_entry().to_bytes()[:cut])

    def test_flipped_body_byte_is_detected(self) -> None:
        data = bytearray(sample_entry().to_bytes())
        data[-1] ^= 0xFF
        with pytest.raises(ValueError, match="checksum"):
            CacheEntry.from_bytes(bytes(data))


@pytest.mark.parametrize("make", [MemoryStorage, lambda: FileStorage(Path("unused"))])
def test_both_storages_satisfy_the_protocol(make: object) -> None:
    assert isinstance(make(), CacheStorage)  # type: ignore[operator]


@pytest.fixture(params=["memory", "file"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> CacheStorage:
    return MemoryStorage() if request.param == "memory" else FileStorage(tmp_path / "c")


def test_storage_contract(storage: CacheStorage) -> None:
    """get/put/delete/items/clear behave alike in every storage."""
    assert storage.get("k") is None
    assert list(storage.items()) == []
    storage.put("k", b"one")
    storage.put("k", b"two")
    storage.put("GET https://x/ü", b"\x00")
    assert storage.get("k") == b"two"
    assert dict(storage.items()) == {"k": b"two", "GET https://x/ü": b"\x00"}
    storage.delete("k")
    storage.delete("k")  # missing is fine
    assert dict(storage.items()) == {"GET https://x/ü": b"\x00"}
    storage.clear()
    assert list(storage.items()) == []


class TestFileStorage:
    def test_files_are_0600_in_a_0700_directory_named_by_hash(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path / "new" / "cache")
        storage.put("GET https://evil/../../etc/passwd", b"x")
        assert stat.S_IMODE((tmp_path / "new" / "cache").stat().st_mode) == 0o700
        (path,) = (tmp_path / "new" / "cache").iterdir()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.parent == tmp_path / "new" / "cache"
        assert len(path.stem) == 64
        assert path == storage.path_for("GET https://evil/../../etc/passwd")

    def test_constructor_touches_nothing(self, tmp_path: Path) -> None:
        FileStorage(tmp_path / "absent")
        assert not (tmp_path / "absent").exists()

    def test_no_temporary_files_are_left(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path)
        for i in range(5):
            storage.put(f"k{i}", b"x" * i)
        assert all(p.suffix == ".entry" for p in tmp_path.iterdir())

    @pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip"])
    def test_corrupt_file_is_skipped_and_removed(
        self, tmp_path: Path, damage: str, events: list[MutableMapping[str, Any]]
    ) -> None:
        storage = FileStorage(tmp_path)
        storage.put("good", b"fine")
        storage.put("bad", b"will be damaged")
        path = storage.path_for("bad")
        data = path.read_bytes()
        damaged = {
            "truncate": data[:-3],
            "garbage": b"\x89PNG not ours",
            "empty": b"",
            "flip": data[:-1] + bytes([data[-1] ^ 1]),
        }[damage]
        path.write_bytes(damaged)
        assert dict(storage.items()) == {"good": b"fine"}
        assert not path.exists()
        warnings = [e for e in events if e["log_level"] == "warning"]
        assert [(e["event"], e["path"]) for e in warnings] == [("cache_file_unreadable", str(path))]

    def test_file_under_another_keys_name_is_removed(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path)
        storage.put("a", b"1")
        storage.path_for("a").rename(storage.path_for("b"))
        assert list(storage.items()) == []

    def test_clear_removes_the_directory_it_emptied(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path / "c")
        storage.put("a", b"1")
        (tmp_path / "c" / ".tmp-stray").write_bytes(b"half")
        storage.clear()
        assert not (tmp_path / "c").exists()

    def test_clear_leaves_foreign_files(self, tmp_path: Path) -> None:
        storage = FileStorage(tmp_path)
        storage.put("a", b"1")
        (tmp_path / "mine.txt").write_text("keep")
        storage.clear()
        assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]

    def test_unwritable_directory_raises_oserror(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("not a directory")
        with pytest.raises(OSError, match="file"):
            FileStorage(tmp_path / "file" / "cache").put("a", b"1")


class TestBatchedWrites:
    """``FileStorage.put_many``: one flush, each entry still atomic, one directory sync."""

    def test_batches_larger_than_the_open_file_budget(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(storage_module, "_BATCH", 3)
        storage = FileStorage(tmp_path / "c")
        pairs = {f"k{i}": bytes([i]) * i for i in range(8)}
        storage.put_many(pairs.items())
        assert dict(storage.items()) == pairs
        assert all(p.suffix == ".entry" for p in (tmp_path / "c").iterdir())

    def test_one_directory_sync_per_call(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        syncs: list[Path] = []
        monkeypatch.setattr(
            FileStorage, "_sync_directory", lambda self: syncs.append(self.directory)
        )
        storage = FileStorage(tmp_path)
        storage.put_many((f"k{i}", b"x") for i in range(10))
        storage.delete_many(["k1", "k2", "absent"])
        storage.put_many(())
        storage.delete_many(["absent"])
        assert syncs == [tmp_path, tmp_path]

    def test_every_file_is_synced_before_any_rename(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        steps: list[str] = []
        real_sync, real_replace = storage_module._sync_file, os.replace

        def sync(fd: int) -> None:
            steps.append("sync")
            real_sync(fd)

        def replace(src: str, dst: Path) -> None:
            steps.append("rename")
            real_replace(src, dst)

        monkeypatch.setattr(storage_module, "_sync_file", sync)
        monkeypatch.setattr(storage_module.os, "replace", replace)
        FileStorage(tmp_path).put_many((f"k{i}", b"x") for i in range(3))  # inline syncs
        FileStorage(tmp_path).put_many((f"k{i}", b"x") for i in range(20))  # on threads
        assert steps == ["sync"] * 3 + ["rename"] * 3 + ["sync"] * 20 + ["rename"] * 20

    def test_a_failure_leaves_whole_entries_and_no_temporary_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = FileStorage(tmp_path)
        storage.put_many([("a", b"old a"), ("b", b"old b"), ("c", b"old c")])
        real_replace, calls = os.replace, []

        def flaky(src: str, dst: Path) -> None:
            calls.append(dst)
            if len(calls) == 2:
                raise OSError("disk full")
            real_replace(src, dst)

        monkeypatch.setattr(storage_module.os, "replace", flaky)
        with pytest.raises(OSError, match="disk full"):
            storage.put_many([("a", b"new a"), ("b", b"new b"), ("c", b"new c")])
        assert dict(storage.items()) == {"a": b"new a", "b": b"old b", "c": b"old c"}
        assert all(p.suffix == ".entry" for p in tmp_path.iterdir())


def test_a_young_temporary_file_may_be_another_flush_and_stays(tmp_path: Path) -> None:
    """Only temporaries older than an hour are swept: another process may own the rest."""
    storage = FileStorage(tmp_path)
    storage.put("a", b"1")
    young, old = tmp_path / ".tmp-young", tmp_path / ".tmp-old"
    young.write_bytes(b"being written")
    old.write_bytes(b"crashed")
    hour_ago = os.path.getmtime(young) - 3601
    os.utime(old, (hour_ago, hour_ago))
    assert dict(storage.items()) == {"a": b"1"}
    assert (young.exists(), old.exists()) == (True, False)
