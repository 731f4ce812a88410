"""PATCH and any RFC 9110 method token: sent as given, bodies, retries, the cache.

Against a real werkzeug origin on loopback: ``/item`` answers GET with a
cacheable counter and any other method with JSON of the method and body;
``/busy`` answers every method 503 and counts the attempts.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import netstack
from netstack import HttpError, HttpRequestOptions, RequestMethod, RetryPolicy, Scheduler
from netstack.validation import resolve_options

_TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _Origin:
    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.busy_hits: dict[str, int] = {}
        self.lock = threading.Lock()

    @Request.application
    def app(self, request: Request) -> Response:
        if request.path == "/busy":
            with self.lock:
                self.busy_hits[request.method] = self.busy_hits.get(request.method, 0) + 1
            return Response(b"busy", status=503)
        if request.path == "/item" and request.method == "GET":
            body = json.dumps({"version": next(self.counter)})
            return Response(
                body, mimetype="application/json", headers={"Cache-Control": "max-age=600"}
            )
        data = request.get_data()
        body = json.dumps(
            {
                "method": request.environ["REQUEST_METHOD"],  # as sent (.method upper-cases)
                "body": data.decode(),
                "query": request.query_string.decode(),
                "content_type": request.headers.get("Content-Type", ""),
            }
        )
        return Response(body, mimetype="application/json")


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, _Origin]]:
    state = _Origin()
    server = make_server("127.0.0.1", 0, state.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=4, cache=netstack.HttpResponseCache()) as sched:
        yield sched


def test_patch_sends_extra_data_as_a_json_body(
    origin: tuple[str, _Origin], scheduler: Scheduler
) -> None:
    base, _ = origin
    options = {"method": RequestMethod.PATCH, "extraData": {"name": "x"}}
    echo = scheduler.submit(f"{base}/echo", options).result(timeout=10).json()
    assert echo == {
        "method": "PATCH",
        "body": '{"name":"x"}',
        "query": "",
        "content_type": "application/json",
    }


@pytest.mark.parametrize("method", ["PURGE", "PROPFIND", "MKCOL", "X-Custom.1"])
def test_any_token_method_goes_on_the_wire_as_given(
    origin: tuple[str, _Origin], scheduler: Scheduler, method: str
) -> None:
    base, _ = origin
    future = scheduler.submit(f"{base}/echo", {"method": method, "extraData": "<propfind/>"})
    echo = future.result(timeout=10).json()
    assert (echo["method"], echo["body"], echo["query"]) == (method, "<propfind/>", "")


def test_known_method_names_are_case_insensitive_and_give_the_member() -> None:
    assert resolve_options({"method": "patch"}).method is RequestMethod.PATCH
    assert resolve_options({"method": "Get"}).method is RequestMethod.GET
    assert resolve_options(HttpRequestOptions(method="PURGE")).method == "PURGE"


@pytest.mark.parametrize("method", ["", "GET /", "BAD\r\nX: 1", "caf\u00e9", "A B", "(x)", 7, None])
def test_a_method_that_is_not_a_token_is_a_401_naming_the_field(
    origin: tuple[str, _Origin], method: object
) -> None:
    base, _ = origin
    http = netstack.create_http()
    with pytest.raises(HttpError) as caught:
        http.request(f"{base}/echo", {"method": method})
    assert caught.value.code == 401
    assert "method" in caught.value.message


@given(st.text(alphabet=_TCHAR, min_size=1, max_size=20))
def test_every_token_is_accepted(method: str) -> None:
    resolved = resolve_options({"method": method}).method
    assert resolved == method or resolved is RequestMethod.__members__.get(method.upper())


@given(st.text(min_size=1, max_size=20).filter(lambda m: any(c not in _TCHAR for c in m)))
def test_every_non_token_is_refused(method: str) -> None:
    with pytest.raises(HttpError) as caught:
        resolve_options({"method": method})
    assert caught.value.code == 401


@pytest.mark.parametrize(
    ("method", "attempts"),
    [("GET", 3), ("PUT", 3), ("PATCH", 1), ("PURGE", 1), ("PROPFIND", 1), ("POST", 1)],
)
def test_patch_and_unknown_methods_are_not_retried(
    origin: tuple[str, _Origin], method: str, attempts: int
) -> None:
    base, state = origin
    policy = RetryPolicy(attempts=3, backoff=0.0, jitter=0.0)
    with Scheduler(max_workers=2, retry=policy) as sched:
        response = sched.submit(f"{base}/busy", {"method": method}).result(timeout=10)
    assert response.response_code == 503
    assert response.attempts == attempts
    assert state.busy_hits.pop(method) == attempts


@pytest.mark.parametrize("method", ["PATCH", "PURGE", "PROPFIND"])
def test_patch_and_unknown_methods_invalidate_the_cache_and_are_never_served_from_it(
    origin: tuple[str, _Origin], scheduler: Scheduler, method: str
) -> None:
    base, _ = origin
    url = f"{base}/item"
    first = scheduler.submit(url).result(timeout=10)
    assert scheduler.submit(url).result(timeout=10).from_cache  # stored and fresh
    unsafe = scheduler.submit(url, {"method": method}).result(timeout=10)
    assert not unsafe.from_cache
    assert unsafe.json()["method"] == method
    again = scheduler.submit(url).result(timeout=10)
    assert not again.from_cache
    assert again.json()["version"] > first.json()["version"]
