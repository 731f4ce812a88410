"""The cache through request(): a loopback werkzeug origin that counts requests.

RFC 9111 §4 (serving fresh), §4.3 (validation, 304), §4.4 (invalidation).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import netstack
from netstack import HttpResponse, Scheduler
from netstack.cache import HttpResponseCache, MemoryStorage

pytestmark = pytest.mark.timeout(60)


class Origin:
    """Counts requests per path; ``url`` is its base URL once running."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.url = ""

    def respond(self, request: Request) -> Response:
        self.hits[request.path] += 1
        if request.path == "/fresh":
            headers = {"Cache-Control": "max-age=60", "Set-Cookie": "a=1"}
            return Response(f"fresh {self.hits['/fresh']}", headers=headers)
        if request.path == "/validated":
            validators = {"ETag": '"v1"', "Cache-Control": "max-age=0"}
            if request.headers.get("If-None-Match") == '"v1"':
                self.conditional[request.path] += 1
                return Response(status=304, headers={**validators, "X-Revalidated": "yes"})
            return Response("validated body", headers=validators)
        return Response("nope", status=404)


@pytest.fixture
def origin() -> Iterator[Origin]:
    state = Origin()
    app = Request.application(state.respond)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    cache = HttpResponseCache(storage=MemoryStorage())
    with Scheduler(max_workers=2, cache=cache, name="test-cache-e2e") as s:
        yield s


def fetch(scheduler: Scheduler, url: str, options: Mapping[str, Any] | None = None) -> HttpResponse:
    response = netstack.create_http(scheduler).request(url, options).result(timeout=30)
    assert isinstance(response, HttpResponse)
    return response


def test_fresh_hit_needs_no_network(origin: Origin, scheduler: Scheduler) -> None:
    first = fetch(scheduler, f"{origin.url}/fresh")
    second = fetch(scheduler, f"{origin.url}/fresh")
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.result == first.result == "fresh 1"
    assert second.cookies == "a=1"
    assert origin.hits["/fresh"] == 1


def test_stale_entry_is_revalidated_with_304(origin: Origin, scheduler: Scheduler) -> None:
    first = fetch(scheduler, f"{origin.url}/validated")
    second = fetch(scheduler, f"{origin.url}/validated")
    assert first.from_cache is False
    assert second.from_cache is True
    assert second.response_code == 200
    assert second.result == "validated body"
    assert second.header["X-Revalidated"] == "yes"
    assert origin.conditional["/validated"] == 1


def test_post_invalidates(origin: Origin, scheduler: Scheduler) -> None:
    fetch(scheduler, f"{origin.url}/fresh")
    fetch(scheduler, f"{origin.url}/fresh", {"method": "POST", "extraData": "x"})
    third = fetch(scheduler, f"{origin.url}/fresh")
    assert third.from_cache is False
    assert origin.hits["/fresh"] == 3


def test_using_cache_false_goes_to_the_network(origin: Origin, scheduler: Scheduler) -> None:
    fetch(scheduler, f"{origin.url}/fresh")
    again = fetch(scheduler, f"{origin.url}/fresh", {"usingCache": False})
    assert again.from_cache is False
    assert origin.hits["/fresh"] == 2


def test_head_is_answered_by_the_stored_get(origin: Origin, scheduler: Scheduler) -> None:
    fetch(scheduler, f"{origin.url}/fresh")
    head = fetch(scheduler, f"{origin.url}/fresh", {"method": "HEAD"})
    assert head.from_cache is True
    assert head.result == ""
    assert head.header["Content-Length"] == str(len("fresh 1"))
    assert origin.hits["/fresh"] == 1


def test_hits_and_misses_are_counted(origin: Origin, scheduler: Scheduler) -> None:
    cache = scheduler.cache
    assert cache is not None
    for _ in range(3):
        fetch(scheduler, f"{origin.url}/fresh")
    fetch(scheduler, f"{origin.url}/validated")
    fetch(scheduler, f"{origin.url}/validated")
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.revalidated) == (2, 3, 1)


def test_scheduler_stats_count_cache_hits_and_misses(origin: Origin, scheduler: Scheduler) -> None:
    for _ in range(3):
        fetch(scheduler, f"{origin.url}/fresh")  # miss, then two fresh hits
    fetch(scheduler, f"{origin.url}/validated")  # miss
    fetch(scheduler, f"{origin.url}/validated")  # stale: revalidated over the network
    fetch(scheduler, f"{origin.url}/fresh", {"usingCache": False})  # not consulted
    stats = scheduler.stats()
    assert (stats.cache_hits, stats.cache_misses) == (2, 3)
    assert stats.completed == stats.submitted == 6
