"""CircuitBreaker and HostBreakers: the per-host state machine, with the clock passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from netstack.breaker import (
    NEUTRAL,
    SUCCESS,
    BreakerState,
    CircuitBreaker,
    HostBreakers,
    Verdict,
)
from netstack.errors import CONNECT_FAILED, TIMEOUT, HttpError, HttpTimeoutError

HOSTS = ["a", "b", "c"]
RESET = 10.0


@dataclass
class _Response:
    response_code: int
    header: dict[str, str] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("result", "error", "expected"),
    [
        (_Response(200), None, SUCCESS),
        (_Response(404), None, SUCCESS),
        (_Response(500), None, 500),
        (_Response(503), None, 503),
        (None, HttpError.of(CONNECT_FAILED), CONNECT_FAILED),
        (None, HttpError.of(TIMEOUT), TIMEOUT),
        (None, HttpError.of(2300042), NEUTRAL),
        (None, HttpError.of(2300060), NEUTRAL),
        (None, ValueError("a bug"), NEUTRAL),
        (206, None, SUCCESS),  # a stream's status code is its result
    ],
)
def test_classify_counts_connect_failures_timeouts_and_5xx(
    result: object, error: BaseException | None, expected: int
) -> None:
    assert expected == CircuitBreaker.classify(result, error)


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"failures": 0}, "breaker.failures"),
        ({"failures": True}, "breaker.failures"),
        ({"failures": 2.0}, "breaker.failures"),
        ({"reset_after": -1}, "breaker.reset_after"),
        ({"reset_after": float("nan")}, "breaker.reset_after"),
        ({"reset_after": "30"}, "breaker.reset_after"),
    ],
)
def test_invalid_values_are_401_naming_the_field(
    kwargs: dict[str, object], field_name: str
) -> None:
    with pytest.raises(HttpError) as info:
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]
    assert info.value.code == 401
    assert field_name in info.value.message


def test_opens_after_consecutive_failures_then_half_opens_one_trial_and_closes() -> None:
    breakers = HostBreakers(CircuitBreaker(failures=3, reset_after=RESET))
    for now in (0.0, 1.0):
        assert breakers.admit("h", now) is Verdict.PASS
        breakers.record("h", CONNECT_FAILED, now)
    assert breakers.state("h", 1.0) == BreakerState("closed", 2, CONNECT_FAILED)
    breakers.record("h", TIMEOUT, 2.0)
    assert breakers.state("h", 2.0) == BreakerState("open", 3, TIMEOUT)
    assert breakers.admit("h", 2.0 + RESET - 0.01) is Verdict.REJECT
    assert breakers.admit("other", 3.0) is Verdict.PASS
    error = breakers.error("h", 3.0)
    assert isinstance(error, HttpTimeoutError)
    assert error.code == TIMEOUT
    assert "'h'" in error.message
    assert "Circuit open" in error.message
    assert breakers.admit("h", 2.0 + RESET) is Verdict.TRIAL
    assert breakers.state("h", 2.0 + RESET).state == "half_open"
    assert breakers.admit("h", 2.0 + RESET) is Verdict.REJECT  # exactly one trial
    breakers.record("h", SUCCESS, 13.0, trial=True)
    assert breakers.state("h", 13.0) == BreakerState("closed", 0, 0)
    assert breakers.admit("h", 13.0) is Verdict.PASS
    assert len(breakers) == 0


def test_a_success_resets_the_count_and_a_5xx_is_reported_by_its_status() -> None:
    breakers = HostBreakers(CircuitBreaker(failures=2, reset_after=RESET))
    breakers.record("h", 503, 0.0)
    breakers.record("h", SUCCESS, 0.0)
    breakers.record("h", 503, 0.0)
    assert breakers.admit("h", 0.0) is Verdict.PASS
    breakers.record("h", 502, 0.0)
    assert breakers.admit("h", 0.0) is Verdict.REJECT
    error = breakers.error("h", 4.0)
    assert error.code == 502
    assert "status 502" in error.message
    assert "6.0 s" in error.message


def test_a_failed_trial_reopens_for_reset_after_and_an_aborted_trial_frees_the_slot() -> None:
    breakers = HostBreakers(CircuitBreaker(failures=1, reset_after=RESET))
    breakers.record("h", CONNECT_FAILED, 0.0)
    assert breakers.admit("h", RESET) is Verdict.TRIAL
    breakers.record("h", NEUTRAL, RESET, trial=True)
    assert breakers.admit("h", RESET) is Verdict.TRIAL
    breakers.record("h", CONNECT_FAILED, 11.0, trial=True)
    assert breakers.admit("h", 11.0 + RESET - 0.5) is Verdict.REJECT
    assert breakers.admit("h", 11.0 + RESET) is Verdict.TRIAL


class BreakerMachine(RuleBasedStateMachine):
    """The breaker against a model written from the rules in the docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 3
        self.breakers = HostBreakers(CircuitBreaker(failures=self.failures, reset_after=RESET))
        self.now = 0.0
        # The model, per host.
        self.count = dict.fromkeys(HOSTS, 0)
        self.last = dict.fromkeys(HOSTS, 0)
        self.opened: dict[str, float | None] = dict.fromkeys(HOSTS)
        self.trial: dict[str, bool] = dict.fromkeys(HOSTS, False)
        self.flying: list[tuple[str, bool]] = []  # admitted requests: (host, is the trial)

    @rule(seconds=st.sampled_from([0.0, 0.5, 3.0, RESET]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule(host=st.sampled_from(HOSTS))
    def admit(self, host: str) -> None:
        verdict = self.breakers.admit(host, self.now)
        opened = self.opened[host]
        if opened is None:
            assert verdict is Verdict.PASS
        elif self.trial[host] or self.now - opened < RESET:
            assert verdict is Verdict.REJECT
            error = self.breakers.error(host, self.now)
            assert error.code == self.last[host]
            assert repr(host) in error.message
            return
        else:
            assert verdict is Verdict.TRIAL
            self.trial[host] = True
        self.flying.append((host, verdict is Verdict.TRIAL))

    @precondition(lambda self: self.flying)
    @rule(
        index=st.integers(0, 100),
        outcome=st.sampled_from([SUCCESS, NEUTRAL, CONNECT_FAILED, TIMEOUT, 500, 503]),
    )
    def finish(self, index: int, outcome: int) -> None:
        host, trial = self.flying.pop(index % len(self.flying))
        self.breakers.record(host, outcome, self.now, trial=trial)
        if self.opened[host] is not None:
            if not trial:
                return
            self.trial[host] = False
            if outcome == SUCCESS:
                self.count[host], self.last[host], self.opened[host] = 0, 0, None
            elif outcome != NEUTRAL:
                self.count[host] += 1
                self.last[host] = outcome
                self.opened[host] = self.now
            return
        if outcome == SUCCESS:
            self.count[host], self.last[host] = 0, 0
        elif outcome != NEUTRAL:
            self.count[host] += 1
            self.last[host] = outcome
            if self.count[host] >= self.failures:
                self.opened[host] = self.now

    @invariant()
    def states_match_the_model(self) -> None:
        for host in HOSTS:
            state = self.breakers.state(host, self.now)
            opened = self.opened[host]
            if opened is None:
                expected = "closed"
            elif self.trial[host] or self.now - opened >= RESET:
                expected = "half_open"
            else:
                expected = "open"
            assert BreakerState(expected, self.count[host], self.last[host]) == state

    @invariant()
    def at_most_one_trial_per_host(self) -> None:
        for host in HOSTS:
            assert sum(1 for h, trial in self.flying if h == host and trial) <= 1

    @invariant()
    def only_hosts_with_something_to_remember_are_kept(self) -> None:
        assert len(self.breakers) == sum(1 for h in HOSTS if self.count[h])


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase
