"""Where flushed entries live: the ``CacheStorage`` protocol and two storages.

A storage maps string keys to opaque bytes. It knows nothing of HTTP, so a
Redis- or SQLite-backed one is a few lines. ``FileStorage`` keeps one file per
key; ``MemoryStorage`` keeps a dict (tests, ephemeral use).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from netstack.errors import HttpError
from netstack.log import log_event

#: @ohos.net.http's default (and, in @ohos.net.http, maximum) cache size: 10 MiB.
DEFAULT_CACHE_SIZE: Final = 10 * 1024 * 1024


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
#: Files a load warning names at most (its count says how many there were).
_NAMED: Final = 5


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

    ``max_bytes`` bounds the entry files' total size: after each write the
    least recently used files (by modification time; a write or a ``get``
    counts as a use) are removed until the total fits, so a long crawl, or
    several caches sharing the directory, cannot fill a disk. ``None``: the
    ``cache_size`` of the :class:`~netstack.HttpResponseCache` it is given
    to (unbounded when used on its own). When the disk is full a write
    raises ``OSError`` (``ENOSPC``): what was stored before stays whole, and
    the cache's ``flush()`` reports HttpError 2300023.

    Loading skips, with one warning, what cannot be an entry: directories,
    FIFOs, sockets, devices and links named like entries, unreadable files
    (opened non-blocking, so nothing hangs); empty, truncated or damaged
    entry files are removed.
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int | None = None) -> None:
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0
        ):
            raise HttpError.parameter(f"max_bytes: expected an int >= 0 or None, got {max_bytes!r}")
        self._directory = Path(directory)
        self._max_bytes = max_bytes
        self._clock = 0  # last modification time given, in ns: strictly increasing

    @property
    def directory(self) -> Path:
        """Where the entry files live."""
        return self._directory

    @property
    def max_bytes(self) -> int | None:
        """The bound on the entry files' total size, in bytes (``None``: unbounded)."""
        return self._max_bytes

    def adopt_default_bound(self, max_bytes: int) -> None:
        """Take ``max_bytes`` as the bound unless one was given at construction."""
        if self._max_bytes is None:
            self._max_bytes = max_bytes

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._directory / f"{digest}{_SUFFIX}"

    def get(self, key: str) -> bytes | None:
        path = self.path_for(key)
        raw = _read_regular(path)
        if raw is None:
            return None
        found = _decode(raw)
        if found is None or found[0] != key:
            return None
        if self._max_bytes is not None:
            self._touch(path)  # a use, for the LRU bound
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
            if self._max_bytes is not None:
                self.trim(self._max_bytes)

    def _commit(self, batch: list[tuple[str, bytes]]) -> None:
        """Write, sync, then rename the temporary files of ``batch``."""
        temps: list[tuple[int, str, Path]] = []  # (fd, temporary path, final path)
        renamed = 0
        try:
            for key, data in batch:
                fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self._directory)
                temps.append((fd, temp, self.path_for(key)))
                _write_all(fd, _encode(key, data))
                if self._max_bytes is not None:
                    os.utime(fd, ns=(self._next_time(),) * 2)  # write order is recency order
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
        skipped: list[tuple[str, str]] = []  # (path, why), reported in one warning
        try:
            for path in paths:
                try:
                    raw = _read_regular(path, strict=True)
                except OSError as exc:
                    skipped.append((str(path), exc.strerror or repr(exc)))
                    continue
                if raw is None:
                    continue  # removed by another process meanwhile
                found = _decode(raw)
                if found is None or self.path_for(found[0]) != path:
                    skipped.append((str(path), "empty, truncated or damaged: removed"))
                    _unlink(path)
                    continue
                yield found
        finally:
            if skipped:
                log_event(
                    logging.WARNING,
                    "cache_file_unreadable",
                    path=skipped[0][0],
                    directory=str(self._directory),
                    skipped=len(skipped),
                    files=[f"{path} ({why})" for path, why in skipped[:_NAMED]],
                )

    def trim(self, max_bytes: int) -> list[Path]:
        """Remove least recently used entry files until their total is at most ``max_bytes``.

        Returns the removed paths. Files another process removes meanwhile are skipped.
        """
        files: list[tuple[int, str, int]] = []  # (mtime ns, name, size)
        total = 0
        try:
            scan = os.scandir(self._directory)
        except FileNotFoundError:
            return []
        with scan:
            for item in scan:
                if not item.name.endswith(_SUFFIX) or item.name.startswith("."):
                    continue
                try:
                    info = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    files.append((info.st_mtime_ns, item.name, info.st_size))
                    total += info.st_size
        removed: list[Path] = []
        if total <= max_bytes:
            return removed
        files.sort()
        for _, name, size in files:
            if total <= max_bytes:
                break
            path = self._directory / name
            _unlink(path)
            removed.append(path)
            total -= size
        self._sync_directory()
        return removed

    def _next_time(self) -> int:
        now = time.time_ns()
        self._clock = now if now > self._clock else self._clock + 1
        return self._clock

    def _touch(self, path: Path) -> None:
        with contextlib.suppress(OSError):  # read-only or gone: recency is a hint
            os.utime(path, ns=(self._next_time(),) * 2)

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


def _read_regular(path: Path, *, strict: bool = False) -> bytes | None:
    """A regular file's bytes; ``None`` if missing (or, unless ``strict``, not readable).

    Opened non-blocking and without following a link, so a FIFO or a device
    named like an entry never hangs the caller; anything but a regular file
    raises ``OSError`` when ``strict``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError:
        if strict:
            raise
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            if strict:
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            return None
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, max(info.st_size, 65536))
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        if strict:
            raise
        return None
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log_event(logging.WARNING, "cache_file_remove_failed", path=str(path), error=repr(exc))
