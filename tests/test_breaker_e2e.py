"""Scheduler(breaker=...) against real loopback peers: a closed port, a failing origin."""

from __future__ import annotations

import socket
import time

import pytest
from tests.servers.raw import raw_server, read_request, response

from netstack import CircuitBreaker, HttpError, RetryPolicy, Scheduler
from netstack.errors import CONNECT_FAILED


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ok(conn: socket.socket, index: int) -> None:
    while read_request(conn):
        conn.sendall(response(b"fine"))


def _code(future: object) -> int:
    error = future.exception(timeout=10)  # type: ignore[attr-defined]
    assert isinstance(error, HttpError)
    return error.code


def test_a_closed_port_opens_the_circuit_then_one_trial_closes_it() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    breaker = CircuitBreaker(failures=3, reset_after=1.0)
    with raw_server(_ok, host="127.0.0.2") as other, Scheduler(breaker=breaker) as scheduler:
        for _ in range(3):
            assert _code(scheduler.submit(url)) == CONNECT_FAILED
        (state,) = scheduler.stats().breakers.values()
        assert (state.state, state.failures, state.last_code) == ("open", 3, CONNECT_FAILED)
        with raw_server(_ok, port=port) as revived:  # the port answers now: nothing may reach it
            began = time.monotonic()
            error = scheduler.submit(url).exception(timeout=10)
            assert time.monotonic() - began < 0.1
            assert isinstance(error, HttpError)
            assert error.code == CONNECT_FAILED
            assert "Circuit open" in error.message
            assert "'127.0.0.1'" in error.message  # the host key
            assert scheduler.submit(other.url()).result(timeout=10).result == "fine"
            assert revived.accepted == 0
            time.sleep(1.0)  # reset_after: half-open
            assert scheduler.submit(url).result(timeout=10).result == "fine"
            assert revived.accepted == 1
            assert scheduler.stats().breakers == {}
            assert scheduler.submit(url).result(timeout=10).result == "fine"


def test_5xx_answers_open_the_circuit_with_the_status_as_the_code() -> None:
    def unavailable(conn: socket.socket, index: int) -> None:
        while read_request(conn):
            conn.sendall(response(b"down", status="503 Service Unavailable"))

    with (
        raw_server(unavailable) as down,
        Scheduler(breaker=CircuitBreaker(failures=2, reset_after=60)) as scheduler,
    ):
        for _ in range(2):
            assert scheduler.submit(down.url()).result(timeout=10).response_code == 503
        error = scheduler.submit(down.url()).exception(timeout=10)
        assert isinstance(error, HttpError)
        assert error.code == 503
        assert "circuit open" in error.message.lower()
        stats = scheduler.stats()
        assert stats.failed == 1
        assert [s.state for s in stats.breakers.values()] == ["open"]


def test_a_breaker_is_checked_at_construction() -> None:
    with pytest.raises(HttpError) as info:
        Scheduler(breaker=5)  # type: ignore[arg-type]
    assert info.value.code == 401
    assert "breaker" in info.value.message


def test_retries_of_a_rejected_request_count_as_attempts() -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    with Scheduler(
        breaker=CircuitBreaker(failures=1, reset_after=60),
        retry=RetryPolicy(attempts=3, backoff=0.01, jitter=0),
    ) as scheduler:
        error = scheduler.submit(url).exception(timeout=10)
    assert isinstance(error, HttpError)
    assert error.code == CONNECT_FAILED
    assert "Circuit open" in error.message  # attempts 2 and 3 never connected
    assert error.attempts == 3
