"""Numbers at the edges: every numeric option and policy value is accepted or refused with 401.

A huge, negative, float, bool or non-finite value given to a numeric option
must never surface later as an ``OverflowError``, "timestamp out of range"
or 2300999 from deep below (a socket timeout, a deadline, a lock's wait):
``request()`` refuses it with 401 naming the field and the range, and any
value it accepts runs to a normal end against a loopback server.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.servers.raw import RawServer, raw_server, read_request, response

from netstack import (
    AdaptiveConcurrency,
    CircuitBreaker,
    HttpError,
    PolitenessPolicy,
    RetryPolicy,
    Scheduler,
)
from netstack.errors import PARAMETER_ERROR, UNKNOWN
from netstack.limits import MAX_MILLISECONDS
from netstack.retry import parse_retry_after

INT_OPTIONS = [
    "readTimeout",
    "connectTimeout",
    "totalTimeout",
    "maxRedirects",
    "maxLimit",
    "priority",
    "resumeFrom",
    "resumeTo",
]
EDGES: list[object] = [
    10**400,
    2**63,
    2**63 - 1,
    2**31,
    MAX_MILLISECONDS,
    10**30,
    0,
    -1,
    -(2**63),
    True,
    False,
    1.5,
    math.inf,
    -math.inf,
    math.nan,
    "10",
]


def _answer(conn: socket.socket, _: int) -> None:
    with conn:
        for _ in range(1000):
            if not read_request(conn):
                return
            conn.sendall(response(b"ok"))


@pytest.fixture(scope="module")
def origin() -> Iterator[RawServer]:
    with raw_server(_answer) as server:
        yield server


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=4) as scheduler:
        yield scheduler


def _outcome(scheduler: Scheduler, url: str, options: dict[str, object]) -> str:
    """``"refused"`` (401 naming the field), or ``"ran"``; anything else fails the test."""
    refused: HttpError | None = None
    try:
        future = scheduler.submit(url, options)
    except HttpError as exc:
        refused = exc
    if refused is not None:
        assert refused.code == PARAMETER_ERROR, refused
        assert any(name in refused.message for name in _names(options)), refused.message
        return "refused"
    error = future.exception(timeout=30)
    if error is not None:
        assert isinstance(error, HttpError), repr(error)
        assert error.code != UNKNOWN, repr(error)  # no overflow surfacing as 2300999
    return "ran"


def _names(options: dict[str, object]) -> list[str]:
    out = []
    for key in options:
        out.append(key)
        out.append("".join("_" + c.lower() if c.isupper() else c for c in key))
    return out


@pytest.mark.parametrize("field", INT_OPTIONS)
@pytest.mark.parametrize("value", EDGES, ids=lambda v: repr(v)[:24])
def test_an_edge_value_is_refused_with_401_or_runs(
    origin: RawServer, scheduler: Scheduler, field: str, value: object
) -> None:
    outcome = _outcome(scheduler, origin.url("/"), {field: value})
    huge = isinstance(value, int) and not isinstance(value, bool) and value > MAX_MILLISECONDS
    if field.endswith("Timeout") and (huge or isinstance(value, float | bool | str)):
        assert outcome == "refused"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(INT_OPTIONS),
    value=st.integers(-(2**80), 2**80) | st.floats() | st.booleans(),
)
def test_any_number_for_any_numeric_option_is_a_401_or_runs(
    origin: RawServer, scheduler: Scheduler, field: str, value: object
) -> None:
    _outcome(scheduler, origin.url("/"), {field: value})


def test_the_longest_timeouts_allowed_still_run(origin: RawServer, scheduler: Scheduler) -> None:
    options = {
        "readTimeout": MAX_MILLISECONDS,
        "connectTimeout": MAX_MILLISECONDS,
        "totalTimeout": MAX_MILLISECONDS,
    }
    assert scheduler.submit(origin.url("/"), options).result(timeout=30).response_code == 200


@pytest.mark.parametrize(
    "make",
    [
        lambda v: RetryPolicy(backoff=v),
        lambda v: RetryPolicy(max_backoff=v),
        lambda v: RetryPolicy(max_retry_after=v),
        lambda v: RetryPolicy(jitter=v),
        lambda v: PolitenessPolicy(min_delay=v),
        lambda v: PolitenessPolicy(rate=v),
        lambda v: PolitenessPolicy(burst=v),
        lambda v: PolitenessPolicy(per_host={"a.example": v}),
        lambda v: CircuitBreaker(reset_after=v),
        lambda v: AdaptiveConcurrency(increase=v),
        lambda v: AdaptiveConcurrency(decrease=v),
        lambda v: AdaptiveConcurrency(tolerance=v),
        lambda v: AdaptiveConcurrency(smoothing=v),
        lambda v: AdaptiveConcurrency(statuses=v),
    ],
)
@pytest.mark.parametrize(
    "value", [10**400, 2**63, 1e300, math.inf, -1, math.nan, 1e-300], ids=lambda v: repr(v)[:24]
)
def test_policy_numbers_beyond_a_timer_are_401(make: object, value: object) -> None:
    code = PARAMETER_ERROR
    try:
        make(value)  # type: ignore[operator]
    except HttpError as exc:
        code = exc.code
    # anything else raised fails the test; accepted values (1e-300 s) overflow nothing later
    assert code == PARAMETER_ERROR


def test_a_huge_retry_after_ends_the_retries_instead_of_overflowing() -> None:
    assert parse_retry_after("9" * 5000) == math.inf
    assert parse_retry_after("9" * 11) == math.inf
    assert parse_retry_after("3600") == 3600.0
    assert RetryPolicy(attempts=3).max_retry_after < math.inf


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_workers": 10**400},
        {"max_per_host": 10**400},
        {"max_per_host": 10_001},
        {"aging": 10**400},
        {"aging": 1e300},
        {"aging": math.inf},
        {"aging": math.nan},
        {"aging": 0},
    ],
    ids=lambda kw: f"{next(iter(kw))}={next(iter(kw.values()))!r}"[:32],
)
def test_scheduler_numbers_beyond_what_a_pool_or_timer_holds_are_401(
    kwargs: dict[str, object],
) -> None:
    """max_per_host=10**400 sized a connection pool of 10**400 slots (a hang); aging overflowed."""
    with pytest.raises(HttpError) as info:
        Scheduler(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == PARAMETER_ERROR
    assert next(iter(kwargs)) in info.value.message
