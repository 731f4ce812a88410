"""The cache on disk survives crashes, bad files and a failing disk.

- kill -9 in the middle of ``flush()``, many times: every restart loads a
  consistent cache, each entry whole and either its old or its new version;
- truncated, garbage or foreign files are skipped with a warning, never raised;
- a directory that cannot be created, or a disk that refuses the bytes
  (RLIMIT_FSIZE, the unprivileged stand-in for a full disk), fails the flush
  future with HttpError 2300023 naming the place, while requests go on.

Tests run as root in CI, so ``chmod 0500`` would not stop a write: the
unwritable directory here lives under a regular *file*, where ``mkdir``
fails for everyone (ENOTDIR).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from netstack import HttpError, HttpResponseCache
from netstack.cache import driver_of
from netstack.errors import WRITE_ERROR

pytestmark = pytest.mark.timeout(180)

#: Kills per run, entries per flush, and the size of each entry's body.
ITERATIONS = 20
ENTRIES = 150
REPEAT = 1500  # body = 14-byte stamp * REPEAT, about 21 KB

_CHILD = textwrap.dedent(
    """
    import sys, time
    from netstack import HttpResponseCache
    from netstack.cache import driver_of

    directory, version, entries, repeat = sys.argv[1], *map(int, sys.argv[2:5])
    cache = HttpResponseCache(256 << 20, directory=directory)
    now = time.time()
    for k in range(entries):
        url = f"https://durable.test/{k}"
        lookup = driver_of(cache).lookup("GET", url, {"Cache-Control": "no-cache"}, now)
        body = f"v{version:04d}k{k:04d}|".encode() * repeat
        headers = [("Cache-Control", "max-age=86400"), ("ETag", f'"{version}"')]
        driver_of(cache).complete(lookup, 200, headers, body, now, now)
    print("flushing", flush=True)
    started = time.perf_counter()
    cache.flush().result()
    print("flushed", time.perf_counter() - started, flush=True)
    time.sleep(60)
    """
)


def _body(version: int, k: int) -> bytes:
    return f"v{version:04d}k{k:04d}|".encode() * REPEAT


def _load(directory: Path) -> dict[int, bytes]:
    """What a restarted process sees: every fresh entry's body, by index."""
    cache = HttpResponseCache(256 << 20, directory=directory)
    now = time.time()
    found = {}
    for k in range(ENTRIES):
        lookup = driver_of(cache).lookup("GET", f"https://durable.test/{k}", {}, now)
        if lookup.response is not None:
            assert lookup.action == "fresh"
            found[k] = lookup.response.body
    return found


def _flush_in_child(directory: Path, version: int, kill_after: float | None) -> float | None:
    """Run one writer; SIGKILL it ``kill_after`` s into its flush. The flush's duration if seen."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(directory), str(version), str(ENTRIES), str(REPEAT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "flushing"
        if kill_after is None:
            line = child.stdout.readline().split()
            assert line[0] == "flushed"
            return float(line[1])
        time.sleep(kill_after)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        rest = child.stdout.read()
        return float(rest.split()[1]) if rest.startswith("flushed") else None
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()


def test_kill_9_during_flush_never_leaves_a_torn_entry(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    rng = random.Random(7)
    duration = _flush_in_child(directory, 0, kill_after=None)  # version 0, complete
    assert duration is not None
    last = dict.fromkeys(range(ENTRIES), 0)
    assert _load(directory) == {k: _body(0, k) for k in range(ENTRIES)}
    interrupted = 0
    for version in range(1, ITERATIONS + 1):
        finished = _flush_in_child(directory, version, kill_after=rng.uniform(0, 1.2 * duration))
        interrupted += finished is None
        loaded = _load(directory)
        assert set(loaded) == set(range(ENTRIES)), "an entry was lost"
        for k, body in loaded.items():
            seen = int(body[1:5])
            assert seen in (last[k], version), f"entry {k}: version {seen}"
            assert body == _body(seen, k), f"entry {k} is torn"
            last[k] = seen
    strays = [p.name for p in directory.iterdir() if not p.name.endswith(".entry")]
    print(
        f"{interrupted}/{ITERATIONS} kills landed mid-flush ({duration * 1000:.0f} ms flush);"
        f" {len(strays)} temporary files left behind"
    )
    assert interrupted > 0, "no kill landed inside a flush; the test proved nothing"


def _flushed_cache(directory: Path, count: int) -> None:
    cache = HttpResponseCache(directory=directory)
    now = time.time()
    for k in range(count):
        url = f"https://durable.test/{k}"
        lookup = driver_of(cache).lookup("GET", url, {}, now)
        driver_of(cache).complete(
            lookup, 200, [("Cache-Control", "max-age=600")], _body(0, k), now, now
        )
    cache.flush().result()


def test_truncated_and_garbage_files_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "cache"
    _flushed_cache(directory, 4)
    files = sorted(directory.glob("*.entry"))
    assert len(files) == 4
    truncated, garbage, empty = files[0], files[1], files[2]
    truncated.write_bytes(truncated.read_bytes()[:-100])
    garbage.write_bytes(os.urandom(5000))
    empty.write_bytes(b"")
    (directory / ("0" * 64 + ".entry")).write_bytes(b"not an entry at all")
    with caplog.at_level(logging.WARNING, logger="netstack"):
        loaded = _load(directory)
    assert len(loaded) == 1
    ((k, body),) = loaded.items()
    assert body == _body(0, k)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # one, for all four
    assert "skipped=4" in warnings[0].getMessage()


def test_unwritable_directory_fails_the_flush_and_requests_continue(tmp_path: Path) -> None:
    """A directory under a regular file: mkdir fails even for root (ENOTDIR)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = HttpResponseCache(directory=blocker / "cache")  # never raises for storage
    now = time.time()
    lookup = driver_of(cache).lookup("GET", "https://durable.test/x", {}, now)
    driver_of(cache).complete(lookup, 200, [("Cache-Control", "max-age=600")], b"kept", now, now)
    seen: list[HttpError | None] = []
    future = cache.flush(callback=seen.append)
    error = future.exception(timeout=10)
    assert isinstance(error, HttpError)
    assert error.code == WRITE_ERROR
    assert str(blocker) in str(error)
    assert seen == [error]
    # The cache keeps answering from memory, and can be flushed again later.
    hit = driver_of(cache).lookup("GET", "https://durable.test/x", {}, now)
    assert hit.action == "fresh"
    assert hit.response is not None
    assert hit.response.body == b"kept"


_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys, time
    import netstack
    from netstack import HttpError, HttpResponseCache, Scheduler
    from netstack.cache import driver_of
    from tests.servers.origin import origin

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write is EFBIG, not a signal
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    cache = HttpResponseCache(directory=sys.argv[1])
    with origin() as base, Scheduler(max_workers=2, cache=cache, name="full") as scheduler:
        def get(path):
            return netstack.create_http(scheduler).request(base + path).result(timeout=30)
        assert get("/bytes?n=10").response_code == 200
        now = time.time()
        driver = driver_of(cache)
        lookup = driver.lookup("GET", "https://durable.test/big", {}, now)
        driver.complete(lookup, 200, [("Cache-Control", "max-age=600")], b"b" * 20000, now, now)
        error = cache.flush().exception(timeout=10)
        assert isinstance(error, HttpError), repr(error)
        after = get("/bytes?n=20000")
        print(error.code, after.response_code, len(after.result))
    """
)


def test_a_full_disk_fails_the_flush_and_requests_continue(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse bytes past 4 KiB (EFBIG), as a full disk
    refuses them (ENOSPC); a real full filesystem needs a mount, hence privileges."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    result = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    code, status, size = (int(x) for x in result.stdout.split())
    assert (code, status, size) == (WRITE_ERROR, 200, 20000)


def test_temporary_files_of_a_crashed_flush_are_swept_on_load(tmp_path: Path) -> None:
    """A day-old temporary file can belong to no running flush; loading removes it."""
    directory = tmp_path / "cache"
    _flushed_cache(directory, 1)
    stray = directory / ".tmp-crashed"
    stray.write_bytes(b"half an entry")
    day_ago = time.time() - 86400
    os.utime(stray, (day_ago, day_ago))
    _load(directory)
    HttpResponseCache(directory=directory).flush().result(timeout=10)
    assert not stray.exists()
