"""Where flushed entries live: the ``CacheStorage`` protocol and two storages.

A storage maps string keys to opaque bytes. It knows nothing of HTTP, so a
Redis- or SQLite-backed one is a few lines. ``FileStorage`` keeps one file per
key; ``MemoryStorage`` keeps a dict (tests, ephemeral use).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from netstack.log import log_event


@runtime_checkable
class CacheStorage(Protocol):
    """The persistence seam of :class:`~netstack.HttpResponseCache`.

    Keys are the cache's keys (``"GET https://host/path"``); values are
    serialised entries. Methods may raise ``OSError`` (or any exception) on
    failure; the cache turns that into an ``HttpError``. ``items()`` should
    skip, and may remove, values it cannot read back whole.

    A storage may also offer ``put_many(pairs)`` and ``delete_many(keys)``
    (see :class:`FileStorage`); ``flush()`` uses them when present, so a
    storage can make one durable commit of a whole flush.
    """

    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or ``None``."""
        ...

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: a reader sees the old or the new value."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every ``(key, data)`` stored, in no particular order."""
        ...

    def clear(self) -> None:
        """Remove everything this storage holds."""
        ...


class MemoryStorage:
    """A :class:`CacheStorage` in a dict: nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._data[key] = bytes(data)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def items(self) -> Iterator[tuple[str, bytes]]:
        with self._lock:
            snapshot = list(self._data.items())
        return iter(snapshot)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __repr__(self) -> str:
        return f"<MemoryStorage [{len(self)} entries]>"


# File format: magic, then key length and CRC-32 of key + data, then key, then data.
_MAGIC: Final = b"NSCACHE1"
_HEADER: Final = struct.Struct(">II")
_SUFFIX: Final = ".entry"
_TEMP_PREFIX: Final = ".tmp-"
#: Temporary files a batched write keeps open at once (well below usual fd limits).
_BATCH: Final = 256
#: Flushes a file's data and size, not its times: all a reader needs.
_sync_file = getattr(os, "fdatasync", os.fsync)
#: A temporary file this old (seconds) belongs to no running flush: a crash left it.
_STALE_TEMPORARY: Final = 3600.0
#: Syncs in flight at once when a batch is large: the device overlaps them.
_SYNC_THREADS: Final = 8


class FileStorage:
    """A :class:`CacheStorage` with one file per key in ``directory``.

    File names are the SHA-256 of the key, never a path taken from a URL.
    A write goes to a temporary file in the same directory, is fsynced, then
    ``os.replace``\\ d over the old file, and the directory is fsynced: a crash
    or a second process writing the same key never leaves a torn file. Files
    are mode 0600; a directory this storage creates is mode 0700. The
    directory is created on the first write, never by the constructor.

    :meth:`put_many` keeps those guarantees for a whole flush at a fraction of
    the cost: it writes every temporary file of a batch, then syncs them
    (several at once, so the device overlaps them), then renames them, and
    syncs the directory once at the end.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)

    @property
    def directory(self) -> Path:
        """Where the entry files live."""
        return self._directory

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._directory / f"{digest}{_SUFFIX}"

    def get(self, key: str) -> bytes | None:
        path = self.path_for(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        found = _decode(raw)
        if found is None or found[0] != key:
            return None
        return found[1]

    def put(self, key: str, data: bytes) -> None:
        self.put_many(((key, data),))

    def put_many(self, pairs: Iterable[tuple[str, bytes]]) -> None:
        """Store every ``(key, data)`` pair, each atomically, with one directory sync.

        On failure the pairs renamed so far are stored whole, the others not
        at all (an older value of theirs stays), and no temporary file is left.
        """
        batch: list[tuple[str, bytes]] = []
        wrote = False
        for pair in pairs:
            if not wrote:
                self._ensure_directory()
                wrote = True
            batch.append(pair)
            if len(batch) == _BATCH:
                self._commit(batch)
                batch = []
        if batch:
            self._commit(batch)
        if wrote:
            self._sync_directory()

    def _commit(self, batch: list[tuple[str, bytes]]) -> None:
        """Write, sync, then rename the temporary files of ``batch``."""
        temps: list[tuple[int, str, Path]] = []  # (fd, temporary path, final path)
        renamed = 0
        try:
            for key, data in batch:
                fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self._directory)
                temps.append((fd, temp, self.path_for(key)))
                _write_all(fd, _encode(key, data))
            _sync_all([fd for fd, _, _ in temps])
            for _, temp, final in temps:
                os.replace(temp, final)
                renamed += 1
        finally:
            for index, (fd, temp, _) in enumerate(temps):
                os.close(fd)
                if index >= renamed:
                    _unlink(Path(temp))

    def delete(self, key: str) -> None:
        self.delete_many((key,))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key (missing keys are not an error), with one directory sync."""
        removed = False
        for key in keys:
            try:
                self.path_for(key).unlink()
            except FileNotFoundError:
                continue
            removed = True
        if removed:
            self._sync_directory()

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every readable entry; a corrupt or truncated file is logged and removed.

        Temporary files older than an hour, left by a flush that crashed, are
        removed too; younger ones may belong to another process's flush.
        """
        try:
            names = sorted(os.listdir(self._directory))
        except FileNotFoundError:
            return
        self._sweep(name for name in names if name.startswith(_TEMP_PREFIX))
        paths = [
            self._directory / name
            for name in names
            if name.endswith(_SUFFIX) and not name.startswith(".")
        ]
        for path in paths:
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue  # removed by another process meanwhile
            found = _decode(raw)
            if found is None or self.path_for(found[0]) != path:
                log_event(logging.WARNING, "cache_file_unreadable", path=str(path), removed=True)
                _unlink(path)
                continue
            yield found

    def clear(self) -> None:
        """Remove every entry file and stray temporary file, then the directory if empty."""
        try:
            names = os.listdir(self._directory)
        except FileNotFoundError:
            return
        for name in names:
            if name.endswith(_SUFFIX) or name.startswith(_TEMP_PREFIX):
                (self._directory / name).unlink(missing_ok=True)
        try:
            self._directory.rmdir()
        except OSError:
            self._sync_directory()  # not empty: someone else's files live there too

    def _sweep(self, temporaries: Iterable[str]) -> None:
        """Remove the temporary files no running flush can still own."""
        stale_before = time.time() - _STALE_TEMPORARY
        for name in temporaries:
            path = self._directory / name
            try:
                if path.stat().st_mtime >= stale_before:
                    continue
            except FileNotFoundError:
                continue
            log_event(logging.WARNING, "cache_stale_temporary_removed", path=str(path))
            _unlink(path)

    def _ensure_directory(self) -> None:
        if self._directory.is_dir():
            return
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._directory, 0o700)

    def _sync_directory(self) -> None:
        """Make renames and unlinks durable; a no-op where directories cannot be opened."""
        try:
            fd = os.open(self._directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"FileStorage({str(self._directory)!r})"


def _encode(key: str, data: bytes) -> bytes:
    """A file's bytes for ``(key, data)``: the inverse of :func:`_decode`."""
    key_bytes = key.encode("utf-8", "surrogatepass")
    header = _HEADER.pack(len(key_bytes), zlib.crc32(data, zlib.crc32(key_bytes)))
    return b"".join((_MAGIC, header, key_bytes, data))


def _sync_all(fds: list[int]) -> None:
    """Sync every file; raises the first failure once all syncs ended."""
    if len(fds) < _SYNC_THREADS:
        for fd in fds:
            _sync_file(fd)
        return
    with ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="netstack-cache-sync") as pool:
        for _ in pool.map(_sync_file, fds):
            pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _decode(raw: bytes) -> tuple[str, bytes] | None:
    """``(key, data)`` from a file's bytes, or ``None`` when it is not a whole entry."""
    start = len(_MAGIC) + _HEADER.size
    if len(raw) < start or not raw.startswith(_MAGIC):
        return None
    key_length, checksum = _HEADER.unpack_from(raw, len(_MAGIC))
    if len(raw) < start + key_length or zlib.crc32(raw[start:]) != checksum:
        return None
    try:
        key = raw[start : start + key_length].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    return key, raw[start + key_length :]


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log_event(logging.WARNING, "cache_file_remove_failed", path=str(path), error=repr(exc))
