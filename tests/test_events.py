"""Per-request events and request_in_stream against a real loopback origin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.servers.streaming_origin import pattern, streaming_origin

import netstack
from netstack import DataReceiveProgressInfo, DataSendProgressInfo, HttpError, Scheduler
from netstack.events import EventEmitter

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with streaming_origin() as base:
        yield base


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=4, name="test-events") as s:
        yield s


class Recorder:
    """Subscribes to every event and records (name, payload, thread) in order."""

    def __init__(self, http: netstack.HttpRequest) -> None:
        self.events: list[tuple[str, Any]] = []
        self.threads: set[str] = set()
        for name in ("headersReceive", "dataReceive", "dataReceiveProgress", "dataEnd",
                     "dataSendProgress"):  # fmt: skip
            http.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.threads.add(threading.current_thread().name)
            self.events.append((name, args[0] if args else None))

        return record

    def names(self) -> list[str]:
        collapsed: list[str] = []
        for name, _ in self.events:
            if (
                not collapsed
                or collapsed[-1] != name
                or name not in ("dataReceive", "dataReceiveProgress")
            ):
                collapsed.append(name)
        return collapsed

    def body(self) -> bytes:
        return b"".join(payload for name, payload in self.events if name == "dataReceive")


def stream(scheduler: Scheduler, url: str, options: Any = None) -> tuple[int, Recorder, list[str]]:
    http = netstack.create_http(scheduler)
    recorder = Recorder(http)
    order: list[str] = []
    holder: list[netstack.RequestFuture] = []

    def callback(err: Any, code: Any) -> None:
        order.append("future resolved" if holder[0].done() else "future pending")
        order.append("callback")

    future = http.request_in_stream(url, options, callback)
    holder.append(future)
    code = future.result(timeout=30)
    deadline = time.monotonic() + 5
    while "callback" not in order and time.monotonic() < deadline:
        time.sleep(0.01)
    return code, recorder, order


@pytest.mark.parametrize("path", ["/chunked?n=5&size=70000", "/length?size=300000"])
def test_stream_event_order_and_contents(origin: str, scheduler: Scheduler, path: str) -> None:
    code, recorder, order = stream(scheduler, origin + path)
    expected_size = 350000 if "chunked" in path else 300000
    assert code == 200
    assert code is netstack.ResponseCode.OK  # resolves to the ResponseCode member
    assert recorder.body() == pattern(expected_size)
    names = [name for name, _ in recorder.events]
    assert names[0] == "headersReceive"
    assert names[-1] == "dataEnd"
    assert set(names[1:-1]) == {"dataReceive", "dataReceiveProgress"}
    progress = [p for n, p in recorder.events if n == "dataReceiveProgress"]
    assert all(isinstance(p, DataReceiveProgressInfo) for p in progress)
    sizes = [p.receive_size for p in progress]
    assert sizes == sorted(sizes)
    assert sizes[-1] == expected_size
    total = 0 if "chunked" in path else expected_size
    assert {p.total_size for p in progress} == {total}
    assert recorder.threads
    assert all("main" not in t.lower() for t in recorder.threads)
    assert order == ["future resolved", "callback"]


@pytest.mark.parametrize(
    ("path", "method", "code"),
    [("/empty", "GET", 200), ("/nocontent", "GET", 204), ("/notmodified", "GET", 304),
     ("/anything", "HEAD", 200)],
)  # fmt: skip
def test_stream_without_body_has_headers_then_data_end(
    origin: str, scheduler: Scheduler, path: str, method: str, code: int
) -> None:
    got, recorder, _ = stream(scheduler, origin + path, {"method": method})
    assert got == code
    assert [name for name, _ in recorder.events if name != "dataReceiveProgress"] == [
        "headersReceive",
        "dataEnd",
    ]
    assert recorder.body() == b""


def test_request_fires_headers_but_not_data_events(origin: str, scheduler: Scheduler) -> None:
    http = netstack.create_http(scheduler)
    recorder = Recorder(http)
    response = http.request(origin + "/length?size=1000").result(timeout=30)
    assert response.result == pattern(1000).decode("utf-8", "replace") or response.result
    assert [name for name, _ in recorder.events] == ["headersReceive"]
    assert recorder.events[0][1]["content-length"] == "1000"


def test_stream_ignores_max_limit(origin: str, scheduler: Scheduler) -> None:
    code, recorder, _ = stream(scheduler, origin + "/length?size=200000", {"maxLimit": 1000})
    assert code == 200
    assert len(recorder.body()) == 200000


def test_redirect_events_describe_only_the_final_response(
    origin: str, scheduler: Scheduler
) -> None:
    code, recorder, _ = stream(scheduler, origin + "/redirect?to=/length%3Fsize%3D10")
    assert code == 200
    headers = [payload for name, payload in recorder.events if name == "headersReceive"]
    assert len(headers) == 1
    assert headers[0]["content-length"] == "10"


def test_upload_progress_is_real_and_monotonic(origin: str, scheduler: Scheduler) -> None:
    http = netstack.create_http(scheduler)
    progress: list[DataSendProgressInfo] = []
    http.on("dataSendProgress", progress.append)
    size = 50 * 1024 * 1024
    response = http.request(
        origin + "/upload",
        {"method": "POST", "extraData": b"u" * size, "header": {"Content-Type": "application/x"}},
    ).result(timeout=30)
    assert response.result == str(size)
    assert len(progress) > 10
    sent = [p.send_size for p in progress]
    assert sent == sorted(sent)
    assert progress[-1] == DataSendProgressInfo(size, size)
    assert {p.total_size for p in progress} == {size}


def test_once_fires_once_and_off_removes(origin: str, scheduler: Scheduler) -> None:
    http = netstack.create_http(scheduler)
    seen: list[str] = []
    http.once("dataReceive", lambda chunk: seen.append("once"))
    removed = lambda chunk: seen.append("removed")  # noqa: E731
    http.on("dataReceive", removed)
    http.on("dataReceive", lambda chunk: seen.append("kept"))
    http.off("dataReceive", removed)
    http.on("dataEnd", lambda: seen.append("end"))
    http.on("dataEnd", lambda: seen.append("end2"))
    http.off("dataEnd")
    http.request_in_stream(origin + "/chunked?n=3&size=10").result(timeout=30)
    assert seen.count("once") == 1
    assert "removed" not in seen
    assert seen.count("kept") >= 1
    assert "end" not in seen
    assert "end2" not in seen


def test_header_receive_is_a_deprecated_alias(origin: str, scheduler: Scheduler) -> None:
    http = netstack.create_http(scheduler)
    seen: list[Any] = []
    with pytest.warns(DeprecationWarning, match="headersReceive"):
        http.on("headerReceive", seen.append)
    http.request(origin + "/empty").result(timeout=30)
    assert len(seen) == 1


def test_unknown_event_is_401() -> None:
    http = netstack.create_http()
    for call in (http.on, http.once):
        with pytest.raises(HttpError) as info:
            call("bodyReceive", print)
        assert info.value.code == 401
    with pytest.raises(HttpError):
        http.off("bodyReceive")


def test_a_raising_listener_is_skipped_and_the_request_goes_on(
    origin: str, scheduler: Scheduler
) -> None:
    http = netstack.create_http(scheduler)
    after: list[int] = []

    def boom(chunk: bytes) -> None:
        raise RuntimeError("listener bug")

    http.on("dataReceive", boom)
    http.on("dataReceive", lambda chunk: after.append(len(chunk)))
    code = http.request_in_stream(origin + "/length?size=5000").result(timeout=30)
    assert code == 200
    assert sum(after) == 5000


def test_destroy_during_stream_aborts_quickly_and_silences_events(
    origin: str, scheduler: Scheduler
) -> None:
    http = netstack.create_http(scheduler)
    chunks: list[int] = []
    first = threading.Event()
    http.on("dataReceive", lambda chunk: (chunks.append(len(chunk)), first.set()))
    future = http.request_in_stream(origin + "/slow?chunks=100&ms=50")
    assert first.wait(10)
    started = time.monotonic()
    http.destroy()
    count_at_destroy = len(chunks)
    with pytest.raises(HttpError) as info:
        future.result(timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert info.value.code == 2300042
    time.sleep(0.3)
    assert len(chunks) == count_at_destroy


def test_destroy_of_a_queued_request_cancels_it(origin: str) -> None:
    with Scheduler(max_workers=1, name="destroy-queued") as single:
        blocker = netstack.create_http(single).request(origin + "/slow?chunks=5&ms=60")
        http = netstack.create_http(single)
        calls: list[Any] = []
        queued = http.request(origin + "/empty", None, lambda err, data: calls.append(err))
        http.destroy()
        assert queued.cancelled()
        assert blocker.result(timeout=10).response_code == 200
        assert len(calls) == 1
        assert calls[0].code == 2300042


def test_fresh_cache_hit_replays_stream_events_without_the_network(origin: str) -> None:
    from tests.servers.streaming_origin import _Handler

    cache = netstack.HttpResponseCache(storage=netstack.MemoryStorage())
    with Scheduler(max_workers=2, cache=cache, name="stream-cache") as cached:
        first = netstack.create_http(cached).request(origin + "/cacheable").result(timeout=30)
        assert first.from_cache is False
        hits = _Handler.cacheable_hits
        code, recorder, _ = stream(cached, origin + "/cacheable")
        assert _Handler.cacheable_hits == hits
    assert code == 200
    assert recorder.body() == b"cached body"
    assert [name for name, _ in recorder.events] == [
        "headersReceive",
        "dataReceive",
        "dataReceiveProgress",
        "dataEnd",
    ]


def test_emitter_listeners_added_or_removed_during_an_emit_apply_from_the_next() -> None:
    emitter = EventEmitter()
    seen: list[str] = []

    def late(chunk: bytes) -> None:
        seen.append("late")

    def second(chunk: bytes) -> None:
        seen.append("second")

    def first(chunk: bytes) -> None:
        seen.append("first")
        emitter.off("dataReceive", second)  # still called in this emit
        emitter.on("dataReceive", late)  # called only from the next emit

    emitter.on("dataReceive", first)
    emitter.on("dataReceive", second)
    emitter.data(b"a")
    assert seen == ["first", "second"]
    seen.clear()
    emitter.off("dataReceive", first)
    emitter.data(b"b")
    assert seen == ["late"]


def test_emitter_once_listeners_fire_once_in_subscription_order() -> None:
    emitter = EventEmitter()
    seen: list[str] = []
    emitter.on("dataEnd", lambda: seen.append("a"), once=True)
    emitter.on("dataEnd", lambda: seen.append("b"))
    emitter.on("dataEnd", lambda: seen.append("c"), once=True)
    emitter.end()
    emitter.end()
    emitter.on("dataEnd", lambda: seen.append("d"), once=True)
    emitter.end()
    emitter.end()
    assert seen == ["a", "b", "c", "b", "b", "d", "b"]
    assert emitter.wants("dataEnd")
    emitter.off("dataEnd")
    assert not emitter.wants("dataEnd")


def test_emitter_fires_nothing_after_close() -> None:
    emitter = EventEmitter()
    seen: list[bytes] = []
    emitter.on("dataReceive", seen.append)
    emitter.close()
    emitter.data(b"x")
    emitter.on("dataReceive", seen.append)
    emitter.data(b"y")
    assert seen == []
