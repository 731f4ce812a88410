"""The option ``total_timeout``: one deadline for a request's whole life, in milliseconds."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.servers.raw import raw_server, read_request, response

from netstack import HttpError, HttpRequestOptions, RequestFuture, RetryPolicy, Scheduler
from netstack.errors import TIMEOUT
from netstack.limits import MAX_MILLISECONDS
from netstack.validation import resolve_options


def test_defaults_to_none_and_takes_both_spellings() -> None:
    assert HttpRequestOptions().total_timeout == 0
    assert resolve_options({"totalTimeout": 1500}).total_timeout == 1500
    assert resolve_options({"total_timeout": 0}).total_timeout == 0


@given(st.integers(0, MAX_MILLISECONDS))
def test_any_int_of_milliseconds_up_to_2_31_is_accepted(value: int) -> None:
    assert resolve_options({"totalTimeout": value}).total_timeout == value


@given(st.integers(MAX_MILLISECONDS + 1, 2**80))
def test_beyond_2_31_milliseconds_is_401_naming_the_range(value: int) -> None:
    with pytest.raises(HttpError) as info:
        resolve_options({"totalTimeout": value})
    assert info.value.code == 401
    assert str(MAX_MILLISECONDS) in info.value.message


@pytest.mark.parametrize("value", [-1, 1.5, "100", True, None])
@pytest.mark.parametrize("key", ["totalTimeout", "total_timeout"])
def test_invalid_values_are_401_naming_the_field_in_milliseconds(key: str, value: object) -> None:
    with pytest.raises(HttpError) as info:
        resolve_options({key: value})
    assert info.value.code == 401
    assert "total_timeout" in info.value.message
    assert "milliseconds" in info.value.message


@pytest.mark.parametrize("field", ["read_timeout", "connect_timeout"])
def test_the_other_timeouts_say_milliseconds_too(field: str) -> None:
    with pytest.raises(HttpError) as info:
        resolve_options({field: -5})
    assert field in info.value.message
    assert "milliseconds" in info.value.message


# -- enforced, against real loopback servers ---------------------------------------

SLACK = 1.0  # the deadline fires on time; this is the margin for a loaded machine


def _silent(conn: socket.socket, index: int) -> None:
    read_request(conn)
    with contextlib.suppress(OSError):
        while conn.recv(1024):
            pass


def _ok(conn: socket.socket, index: int) -> None:
    while read_request(conn):
        conn.sendall(response(b"fine"))


def _drip(conn: socket.socket, index: int) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    with contextlib.suppress(OSError):
        for _ in range(1000):
            conn.sendall(b"x")
            time.sleep(0.05)


def _timed_out(future: RequestFuture, within: float) -> HttpError:
    error = future.exception(timeout=within)
    assert isinstance(error, HttpError)
    assert error.code == TIMEOUT
    return error


def test_a_queued_request_times_out_without_ever_running() -> None:
    with (
        raw_server(_silent) as silent,
        raw_server(_ok, host="127.0.0.2") as ok,
        Scheduler(max_workers=1, name="tt-queued") as scheduler,
    ):
        stuck = scheduler.submit(silent.url())
        began = time.monotonic()
        queued = scheduler.submit(ok.url(), {"totalTimeout": 300})
        error = _timed_out(queued, 0.3 + SLACK)
        assert time.monotonic() - began >= 0.29
        assert "queued" in str(error)
        assert stuck.abort()
        assert scheduler.submit(ok.url()).result(timeout=5).result == "fine"
    assert ok.accepted == 1  # the timed-out request never connected


def test_a_dripping_body_is_cut_at_the_deadline_though_every_read_is_quick() -> None:
    with raw_server(_drip) as drip, Scheduler(max_workers=1, name="tt-drip") as scheduler:
        began = time.monotonic()
        future = scheduler.submit(drip.url(), {"totalTimeout": 500, "readTimeout": 5000})
        error = _timed_out(future, 0.5 + SLACK)
        assert time.monotonic() - began >= 0.49
        assert "running" in str(error)
    assert scheduler.stats().failed == 1


def test_the_deadline_covers_retries_and_their_retry_after_waits() -> None:
    def unavailable(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            conn.sendall(
                response(b"busy", status="503 Service Unavailable", headers="Retry-After: 1\r\n")
            )

    with (
        raw_server(unavailable) as busy,
        Scheduler(name="tt-retry", retry=RetryPolicy(attempts=10)) as scheduler,
    ):
        began = time.monotonic()
        future = scheduler.submit(busy.url(), {"totalTimeout": 1500})
        error = _timed_out(future, 1.5 + SLACK)
        assert time.monotonic() - began >= 1.49
        assert "retry" in str(error)
    assert scheduler.stats().failed == 1


def test_a_request_that_ends_in_time_is_untouched() -> None:
    with raw_server(_ok) as ok, Scheduler(name="tt-fast") as scheduler:
        future = scheduler.submit(ok.url(), {"totalTimeout": 60000})
        assert future.result(timeout=5).result == "fine"
        assert future.abort() is False


def test_a_schedulers_default_options_give_every_request_its_total_timeout() -> None:
    with (
        raw_server(_silent) as silent,
        Scheduler(
            max_workers=1, name="tt-default", default_options={"totalTimeout": 300}
        ) as scheduler,
    ):
        kept = scheduler.submit(silent.url(), {"totalTimeout": 0})  # its own option wins
        began = time.monotonic()
        queued = scheduler.submit(silent.url())  # the default: 300 ms
        assert "queued" in str(_timed_out(queued, 0.3 + SLACK))
        assert time.monotonic() - began >= 0.29
        time.sleep(0.3)
        assert not kept.done()  # running well past 300 ms
        assert kept.abort() is True
