"""RequestFuture.abort() and ``await future``: against real loopback servers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time

import pytest
from tests.servers.raw import raw_server, read_request, response

from netstack import HttpError, RequestFuture, RetryPolicy, Scheduler, create_http
from netstack.errors import ABORTED

LIMIT = 1.0  # abort() ends a request within one second (the contract)


def _silent(closed: threading.Event) -> object:
    """Reads the request, never answers; sets ``closed`` when the client hangs up."""

    def handle(conn: socket.socket, index: int) -> None:
        read_request(conn)
        try:
            while conn.recv(1024):
                pass
        except OSError:
            pass
        closed.set()

    return handle


def _ok(conn: socket.socket, index: int) -> None:
    while read_request(conn):
        conn.sendall(response(b"fine"))


def _aborted(error: BaseException | None) -> bool:
    return isinstance(error, HttpError) and error.code == ABORTED


def test_abort_ends_a_running_request_within_a_second_and_frees_its_worker() -> None:
    closed = threading.Event()
    with (
        raw_server(_silent(closed)) as silent,
        raw_server(_ok, host="127.0.0.2") as ok,
        Scheduler(max_workers=1, name="abort") as scheduler,
    ):
        stuck = scheduler.submit(silent.url())
        after = scheduler.submit(ok.url())
        deadline = time.monotonic() + 5
        while scheduler.stats().running == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # it is blocked reading the answer
        began = time.monotonic()
        assert stuck.abort() is True
        assert _aborted(stuck.exception(timeout=LIMIT))
        assert time.monotonic() - began < LIMIT
        assert closed.wait(LIMIT)  # its connection was shut, not kept for reuse
        assert after.result(timeout=5).result == "fine"  # the one worker is free again
        assert stuck.abort() is False
        assert after.abort() is False
    stats = scheduler.stats()
    assert (stats.completed, stats.failed, stats.cancelled) == (1, 1, 0)


def test_an_aborted_queued_request_never_reaches_the_origin() -> None:
    closed = threading.Event()
    with (
        raw_server(_silent(closed)) as silent,
        raw_server(_ok, host="127.0.0.2") as ok,
        Scheduler(max_workers=1, name="abort-queued") as scheduler,
    ):
        stuck = scheduler.submit(silent.url())
        queued = scheduler.submit(ok.url())
        assert queued.abort() is True
        with pytest.raises(HttpError) as info:
            queued.result(timeout=LIMIT)
        assert info.value.code == ABORTED
        assert not queued.cancelled()
        assert stuck.abort() is True
        assert scheduler.submit(ok.url()).result(timeout=5).response_code == 200
    assert ok.accepted == 1  # only the last request's connection


def test_abort_without_a_scheduler_fails_the_future() -> None:
    from netstack.scheduler import RequestFuture

    future = RequestFuture()
    assert future.abort() is True
    assert _aborted(future.exception(timeout=0))
    assert future.abort() is False


def test_await_resolves_to_the_response() -> None:
    with raw_server(_ok) as ok, Scheduler(name="await") as scheduler:

        async def main() -> str:
            response = await scheduler.submit(ok.url())
            return str(response.result)

        assert asyncio.run(main()) == "fine"


def test_await_raises_the_requests_error() -> None:
    with raw_server(lambda conn, i: conn.close()) as closing, Scheduler(name="await") as scheduler:

        async def main() -> None:
            await scheduler.submit(closing.url())

        with pytest.raises(HttpError) as info:
            asyncio.run(main())
        assert info.value.code != ABORTED


@pytest.mark.parametrize("how", ["wait_for", "cancel"])
def test_cancelling_the_awaiting_task_aborts_the_request(how: str) -> None:
    closed = threading.Event()
    with (
        raw_server(_silent(closed)) as silent,
        raw_server(_ok, host="127.0.0.2") as ok,
        Scheduler(max_workers=1, name="await-cancel") as scheduler,
    ):
        future = scheduler.submit(silent.url())

        async def main() -> None:
            if how == "wait_for":
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(future, 0.3)
            else:
                task = asyncio.ensure_future(_await(future))
                await asyncio.sleep(0.3)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(main())
        assert _aborted(future.exception(timeout=LIMIT))
        assert closed.wait(LIMIT)
        assert scheduler.submit(ok.url()).result(timeout=5).result == "fine"


async def _await(future: object) -> object:
    return await future  # type: ignore[misc]


def test_an_aborted_requests_connection_is_never_reused() -> None:
    closed = threading.Event()
    silent = _silent(closed)

    def first_silent(conn: socket.socket, index: int) -> None:
        if index == 0:
            silent(conn, index)  # type: ignore[operator]
        else:
            _ok(conn, index)

    with (
        raw_server(first_silent) as server,
        Scheduler(max_workers=1, name="abort-conn") as scheduler,
    ):
        stuck = scheduler.submit(server.url())
        deadline = time.monotonic() + 5
        while server.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        assert stuck.abort() is True
        assert closed.wait(LIMIT)
        assert scheduler.submit(server.url()).result(timeout=5).result == "fine"
        assert scheduler.submit(server.url()).result(timeout=5).result == "fine"
    assert server.accepted == 2  # a new connection after the abort, then kept alive


def test_abort_from_a_listener_on_the_worker_thread_ends_the_request() -> None:
    def drip(conn: socket.socket, index: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        with contextlib.suppress(OSError):
            for _ in range(1000):
                conn.sendall(b"x" * 4096)
                time.sleep(0.01)

    holder: list[RequestFuture] = []
    chunks: list[int] = []

    def on_data(chunk: bytes) -> None:
        chunks.append(len(chunk))
        if len(chunks) == 2:
            assert holder[0].abort() is True

    with raw_server(drip) as server, Scheduler(max_workers=1, name="abort-listener") as scheduler:
        http = create_http(scheduler)
        http.on("dataReceive", on_data)
        future = http.request_in_stream(server.url())
        holder.append(future)
        assert _aborted(future.exception(timeout=5))
        count = len(chunks)
        time.sleep(0.2)
        assert len(chunks) == count == 2  # no event after the abort
    assert scheduler.stats().failed == 1


def test_abort_between_two_attempts_ends_it_and_no_retry_is_sent() -> None:
    sent: list[int] = []

    def busy(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            sent.append(index)
            conn.sendall(
                response(b"busy", status="503 Service Unavailable", headers="Retry-After: 5\r\n")
            )

    with (
        raw_server(busy) as server,
        Scheduler(name="abort-backoff", retry=RetryPolicy(attempts=3)) as scheduler,
    ):
        future = scheduler.submit(server.url())
        deadline = time.monotonic() + 5
        while scheduler.stats().retrying == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.stats().retrying == 1
        assert future.abort() is True
        assert _aborted(future.exception(timeout=LIMIT))
        assert scheduler.stats().retrying == 0
    assert len(sent) == 1


def test_awaiting_a_cancelled_request_raises_asyncio_cancelled_error() -> None:
    closed = threading.Event()
    with (
        raw_server(_silent(closed)) as silent,
        Scheduler(max_workers=1, name="await-cancelled") as scheduler,
    ):
        stuck = scheduler.submit(silent.url())
        queued = scheduler.submit(silent.url())

        async def main() -> None:
            waiting = asyncio.ensure_future(_await(queued))
            await asyncio.sleep(0.05)
            assert queued.cancel() is True
            with pytest.raises(asyncio.CancelledError):
                await waiting

        asyncio.run(main())
        assert stuck.abort() is True
