"""AdaptiveConcurrency and HostLimits: AIMD per host, driven without threads or clocks."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netstack.adaptive import CONGESTED, FLAT, NEUTRAL, AdaptiveConcurrency, HostLimits
from netstack.errors import CONNECT_FAILED, TIMEOUT, HttpError


@dataclass
class _Response:
    response_code: int


@pytest.mark.parametrize(
    ("result", "error", "expected"),
    [
        (_Response(200), None, FLAT),
        (_Response(404), None, FLAT),
        (_Response(429), None, CONGESTED),
        (_Response(503), None, CONGESTED),
        (None, HttpError.of(TIMEOUT), CONGESTED),
        (None, HttpError.of(CONNECT_FAILED), NEUTRAL),
        (None, HttpError.of(2300042), NEUTRAL),
        (None, RuntimeError("bug"), NEUTRAL),
    ],
)
def test_classify(result: object, error: BaseException | None, expected: int) -> None:
    assert expected == AdaptiveConcurrency().classify(result, error)


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"start": 0}, "adaptive.start"),
        ({"max_limit": 0}, "adaptive.max_limit"),
        ({"decrease": 1.0}, "adaptive.decrease"),
        ({"decrease": 0}, "adaptive.decrease"),
        ({"tolerance": 0.5}, "adaptive.tolerance"),
        ({"smoothing": 0}, "adaptive.smoothing"),
        ({"increase": float("inf")}, "adaptive.increase"),
        ({"statuses": "429"}, "adaptive.statuses"),
    ],
)
def test_invalid_values_are_401_naming_the_field(
    kwargs: dict[str, object], field_name: str
) -> None:
    with pytest.raises(HttpError) as info:
        AdaptiveConcurrency(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == 401
    assert field_name in info.value.message


def test_starts_small_and_grows_by_about_one_per_round_while_latency_is_flat() -> None:
    limits = HostLimits(AdaptiveConcurrency(start=2), max_per_host=8)
    assert limits.limit("h") == 2
    now = 0.0
    for _ in range(2):  # one round of 2 requests
        now += 0.01
        limits.record("h", FLAT, 0.01, now)
    assert limits.limit("h") == 2  # 2 + 1/2 + 1/2.5
    now += 0.01
    limits.record("h", FLAT, 0.01, now)
    assert limits.limit("h") == 3
    for _ in range(100):
        now += 0.01
        limits.record("h", FLAT, 0.01, now)
    assert limits.limit("h") == 8  # never above max_per_host
    assert limits.limit("other") == 2
    assert limits.snapshot() == {"h": 8}


def test_congestion_halves_once_per_round_trip() -> None:
    limits = HostLimits(AdaptiveConcurrency(start=8), max_per_host=8)
    limits.record("h", FLAT, 0.1, 1.0)
    assert limits.record("h", CONGESTED, 0.1, 2.0) == 4
    assert limits.record("h", CONGESTED, 0.1, 2.05) == 4  # same round trip: in flight before
    assert limits.record("h", CONGESTED, 0.1, 2.2) == 2
    assert limits.record("h", CONGESTED, 0.1, 3.0) == 1
    assert limits.record("h", CONGESTED, 0.1, 4.0) == 1  # never below one
    assert limits.record("h", NEUTRAL, 0.1, 5.0) == 1


def test_rising_latency_is_congestion() -> None:
    limits = HostLimits(AdaptiveConcurrency(start=8), max_per_host=8)
    now = 0.0
    for _ in range(5):
        now += 0.05
        limits.record("h", FLAT, 0.05, now)
    assert limits.limit("h") == 8
    for _ in range(5):
        now += 0.5
        limits.record("h", FLAT, 0.5, now)
    assert limits.limit("h") < 8


def test_max_limit_lowers_the_ceiling() -> None:
    limits = HostLimits(AdaptiveConcurrency(start=6, max_limit=4), max_per_host=8)
    assert limits.ceiling == 4
    assert limits.limit("h") == 4


events = st.tuples(
    st.sampled_from([FLAT, FLAT, CONGESTED, NEUTRAL]),
    st.floats(0.0, 5.0, allow_nan=False),
    st.floats(0.0, 2.0, allow_nan=False),
)


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(1, 20),
    max_per_host=st.integers(1, 16),
    decrease=st.floats(0.1, 0.9),
    history=st.lists(events, max_size=80),
)
def test_the_limit_stays_within_one_and_max_per_host(
    start: int, max_per_host: int, decrease: float, history: list[tuple[int, float, float]]
) -> None:
    limits = HostLimits(AdaptiveConcurrency(start=start, decrease=decrease), max_per_host)
    now = 0.0
    for outcome, latency, step in history:
        now += step
        before = limits.limit("h")
        after = limits.record("h", outcome, latency, now)
        assert 1 <= after <= max_per_host
        assert after == limits.limit("h")
        if outcome == NEUTRAL:
            assert after == before
        if outcome == CONGESTED:
            assert after <= before


@settings(max_examples=50, deadline=None)
@given(knee=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_converges_below_max_per_host_against_a_host_that_slows_past_its_knee(
    knee: int, seed: int
) -> None:
    """A simulated host answers in 20 ms up to ``knee`` requests at once, then slower in
    proportion (a server with ``knee`` workers). Kept full by the limit, the limit settles
    near the knee, far below max_per_host."""
    import random

    rand = random.Random(seed)
    max_per_host = 32
    limits = HostLimits(AdaptiveConcurrency(), max_per_host)
    flying: list[tuple[float, float]] = []  # (finish time, latency)
    now = 0.0
    seen: list[int] = []
    for _ in range(3000):
        while len(flying) < limits.limit("h"):
            latency = 0.02 * max(1.0, (len(flying) + 1) / knee) * (1 + 0.1 * rand.random())
            heapq.heappush(flying, (now + latency, latency))
        now, latency = heapq.heappop(flying)
        seen.append(limits.record("h", FLAT, latency, now))
    settled = seen[1000:]
    assert max(settled) < max_per_host
    assert max(settled) <= 3 * knee
    assert sum(settled) / len(settled) >= knee / 2


def test_a_limit_that_is_not_used_is_not_raised() -> None:
    limits = HostLimits(AdaptiveConcurrency(start=2), max_per_host=8)
    for step in range(50):
        limits.record("h", FLAT, 0.01, step * 0.01, full=False)
    assert limits.limit("h") == 2
    limits.record("h", FLAT, 0.01, 1.0, full=True)
    assert limits.limit("h") == 2  # 2.5
    limits.record("h", FLAT, 0.01, 1.01, full=True)
    assert limits.limit("h") == 2  # 2.9
    limits.record("h", FLAT, 0.01, 1.02, full=True)
    assert limits.limit("h") == 3
