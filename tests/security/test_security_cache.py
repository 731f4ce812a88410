"""The cache keeps one user's responses from another, stores no no-store, and keeps
its files private: 0600 files named by hashes in a 0700 directory.

RFC 9111 §3.5 (https://www.rfc-editor.org/rfc/rfc9111#section-3.5): a response
to a request with Authorization is reused only when its Cache-Control allows a
shared cache to store it (public, s-maxage, must-revalidate).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from tests.security.security_helpers import recording_server
from tests.servers.raw import response

import netstack
from netstack import HttpResponse, HttpResponseCache, Scheduler

pytestmark = pytest.mark.timeout(60)


def _get(scheduler: Scheduler, url: str, header: dict[str, str] | None = None) -> HttpResponse:
    options = {"header": header} if header else None
    return netstack.create_http(scheduler).request(url, options).result(timeout=30)


@pytest.mark.parametrize(
    "later",
    [None, {"Authorization": "Bearer other"}, {"authorization": "bearer ALICE"}],
    ids=["no-authorization", "another-authorization", "other-case"],
)
def test_a_response_to_an_authorized_request_is_not_served_to_another(
    tmp_path: Path, later: dict[str, str] | None
) -> None:
    cacheable = response(b"alice's data", headers="Cache-Control: max-age=600\r\n")
    cache = HttpResponseCache(directory=tmp_path / "c")
    with recording_server(cacheable) as (server, heads), Scheduler(cache=cache) as scheduler:
        first = _get(scheduler, server.url("/me"), {"Authorization": "Bearer ALICE"})
        second = _get(scheduler, server.url("/me"), later)
    assert first.result == "alice's data"
    assert not second.from_cache
    assert len(heads) == 2  # the second request went to the origin


def test_private_responses_to_authorized_requests_are_not_persisted(tmp_path: Path) -> None:
    cacheable = response(b"alice's data", headers="Cache-Control: private, max-age=600\r\n")
    cache = HttpResponseCache(directory=tmp_path / "c")
    with recording_server(cacheable) as (server, _), Scheduler(cache=cache) as scheduler:
        _get(scheduler, server.url("/me"), {"Authorization": "Bearer ALICE"})
    cache.flush().result(timeout=10)
    files = list((tmp_path / "c").glob("*")) if (tmp_path / "c").exists() else []
    assert not any(b"alice" in f.read_bytes() for f in files)


@pytest.mark.parametrize(
    ("response_cc", "request_cc"),
    [("no-store, max-age=600", None), ("max-age=600", "no-store")],
    ids=["response-no-store", "request-no-store"],
)
def test_no_store_is_never_stored(tmp_path: Path, response_cc: str, request_cc: str | None) -> None:
    answer = response(b"do not keep", headers=f"Cache-Control: {response_cc}\r\n")
    cache = HttpResponseCache(directory=tmp_path / "c")
    header = {"Cache-Control": request_cc} if request_cc else None
    with recording_server(answer) as (server, heads), Scheduler(cache=cache) as scheduler:
        _get(scheduler, server.url("/x"), header)
        again = _get(scheduler, server.url("/x"), header)
    cache.flush().result(timeout=10)
    assert not again.from_cache
    assert len(heads) == 2
    assert len(cache) == 0
    directory = tmp_path / "c"
    assert not directory.exists() or not any(directory.iterdir())


HOSTILE_PATHS = [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/shadow",
    "/a/b/c?file=../../x&y=/etc/passwd",
    "/" + "x" * 3000,
    "/\u00e9t\u00e9/\u2603",
    "/con/aux/nul",
]


def test_cache_files_are_private_hashes_in_a_private_directory(tmp_path: Path) -> None:
    """0600 files named by a hex digest, in a 0700 directory; URLs never become paths."""
    answer = response(b"cached", headers="Cache-Control: max-age=600\r\n")
    root = tmp_path / "root"
    directory = root / "netstack-cache"
    cache = HttpResponseCache(directory=directory)
    old_umask = os.umask(0o022)  # a permissive umask must not leak into the modes
    try:
        with recording_server(answer) as (server, _), Scheduler(cache=cache) as scheduler:
            for path in HOSTILE_PATHS:
                assert _get(scheduler, server.url(path)).response_code == 200
        cache.flush().result(timeout=10)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert len(names) == len(HOSTILE_PATHS)
    for name in names:
        assert re.fullmatch(r"[0-9a-f]{64}\.entry", name), name
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    # Nothing was written anywhere else under the test's directory.
    everything = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    assert everything == {Path("root"), Path("root/netstack-cache")} | {
        Path("root/netstack-cache") / n for n in names
    }
