"""Two processes flushing one directory never leave a torn file (issue 5).

Each writer process stores its own version of the same keys and flushes,
over and over, for a bounded number of rounds; both start together. A fresh
load afterwards must find every key whole, each one version or the other.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from netstack.cache import FileStorage, HttpResponseCache, driver_of

pytestmark = pytest.mark.timeout(120)

KEYS = 12
ROUNDS = 15
SIZE = 64 * 1024

WRITER = textwrap.dedent("""
    import os, sys, time
    from netstack.cache import HttpResponseCache, driver_of
    directory, version, go, keys, rounds, size = sys.argv[1:7]
    keys, rounds, size = int(keys), int(rounds), int(size)
    cache = HttpResponseCache(64 * 2**20, directory=directory)
    driver = driver_of(cache)
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)
    headers = [("Cache-Control", "max-age=3600"), ("X-Version", version)]
    for n in range(rounds):
        now = time.time()
        for i in range(keys):
            url = f"https://h.test/{i}"
            body = (f"{version}:{n}:".encode() * size)[:size]
            driver.complete(driver.lookup("GET", url, {}, now), 200, headers, body, now, now)
        cache.flush().result()
""")


def test_two_processes_flushing_one_directory_leave_only_whole_entries(tmp_path: Path) -> None:
    directory, go = tmp_path / "cache", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(directory),
                version,
                str(go),
                str(KEYS),
                str(ROUNDS),
                str(SIZE),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for version in ("A", "B")
    ]
    time.sleep(0.5)  # both import and load meanwhile
    go.touch()
    for writer in writers:
        out, err = writer.communicate(timeout=90)
        assert (writer.returncode, out, err) == (0, b"", b"")

    assert sorted(p.name for p in directory.iterdir() if not p.name.endswith(".entry")) == []
    entries = driver_of(HttpResponseCache(64 * 2**20, directory=directory)).held()
    assert len(entries) == KEYS
    for entry in entries.values():
        version = dict(entry.headers)["X-Version"]
        assert version in {"A", "B"}
        assert len(entry.body) == SIZE
        prefix = entry.body.split(b":", 2)[:2]
        assert prefix[0].decode() == version  # body and headers from one write
        assert entry.body == ((b":".join(prefix) + b":") * SIZE)[:SIZE]
    assert len(list(FileStorage(directory).items())) == KEYS  # nothing unreadable
