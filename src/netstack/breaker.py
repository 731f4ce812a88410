"""CircuitBreaker: stop sending to a host that keeps failing, then try it again. Pure.

Given as ``Scheduler(breaker=CircuitBreaker(...))``. Per host (the
dispatcher's host key), three states, with the clock passed in:

- **closed**: requests go through. ``failures`` consecutive failures (a
  connect failure 2300007, a timeout 2300028, or a 5xx answer) open it; a
  success (any answer below 500) resets the count. Other outcomes (an abort,
  a certificate error, a 4xx ...) neither count nor reset.
- **open**: requests fail at once, without a connection attempt, with an
  ``HttpError`` carrying the code of the last failure (the HTTP status for a
  5xx) and a message that names the host and says the circuit is open.
- **half-open**: ``reset_after`` seconds after it opened, exactly one trial
  request goes through; the others keep failing at once. The trial's success
  closes the circuit, its failure opens it again for ``reset_after``; a trial
  that ends otherwise (aborted) lets the next request be the trial.

Hosts never affect each other. :class:`HostBreakers` holds the states of a
scheduler's hosts (only those not closed-and-clean, so memory stays bounded
for crawls of many hosts); it has no lock and no clock: the dispatcher calls
it under its own lock with ``time.monotonic()``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from netstack.errors import CONNECT_FAILED, TIMEOUT, HttpError
from netstack.limits import MAX_SECONDS

__all__ = [
    "NEUTRAL",
    "SUCCESS",
    "BreakerState",
    "CircuitBreaker",
    "HostBreakers",
    "Verdict",
    "open_error",
]

#: :meth:`CircuitBreaker.classify` of an outcome that closes (or keeps closed) a circuit.
SUCCESS: Final = 0
#: :meth:`CircuitBreaker.classify` of an outcome that says nothing about the host.
NEUTRAL: Final = -1

_FAILURE_ERRORS: Final = frozenset({CONNECT_FAILED, TIMEOUT})
CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"


def _fail(field: str, what: str, value: object) -> HttpError:
    return HttpError.parameter(f"breaker.{field}: {what}, got {value!r}")


@dataclass(frozen=True)
class CircuitBreaker:
    """Per host: open after ``failures`` failures in a row; one trial after ``reset_after`` s."""

    #: Consecutive connect failures, timeouts or 5xx answers that open a host's circuit.
    failures: int = 5
    #: Seconds an open circuit waits before letting one trial request through.
    reset_after: float = 30.0

    def __post_init__(self) -> None:
        failures = self.failures
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise _fail("failures", "must be an int >= 1", failures)
        reset = self.reset_after
        if (
            isinstance(reset, bool)
            or not isinstance(reset, int | float)
            or not 0 <= reset <= MAX_SECONDS  # compared before float(): no overflow; False for NaN
        ):
            raise _fail("reset_after", f"must be a number of seconds in [0, {MAX_SECONDS}]", reset)

    @staticmethod
    def classify(result: object, error: BaseException | None) -> int:
        """What an attempt says about its host: SUCCESS, NEUTRAL, or the failure's code.

        ``result`` is an attempt's result (its ``response_code`` is read),
        ``error`` its exception.
        """
        if error is not None:
            code = error.code if isinstance(error, HttpError) else None
            return code if code in _FAILURE_ERRORS else NEUTRAL
        status = getattr(result, "response_code", None)
        if not isinstance(status, int):
            return SUCCESS  # a stream's code, or a job's own result: the host answered
        return int(status) if status >= 500 else SUCCESS


def open_error(host: str, failures: int, code: int, wait: float) -> HttpError:
    """The error of a request refused by ``host``'s open circuit (``wait``: seconds to the trial).

    Its code is the last failure's (an HttpError code, or a 5xx status), its
    class the leaf of that code, so ``except TimeoutError`` still matches.
    """
    what = f"status {code}" if code < 1000 else f"HttpError {code}"
    message = (
        f"Circuit open for host {host!r}: {failures} consecutive failures, the last "
        f"{what}; not sent. A trial request goes through in {max(0.0, wait):.1f} s."
    )
    leaf = type(HttpError.of(code)) if code >= 1000 else HttpError
    return leaf(code, message)


class Verdict(enum.IntEnum):
    """What :meth:`HostBreakers.admit` decides for a request about to start."""

    #: The circuit is closed: run it.
    PASS = 0
    #: The circuit is half-open and this request is its one trial: run it.
    TRIAL = 1
    #: The circuit is open: fail it with :meth:`HostBreakers.error`, without running it.
    REJECT = 2


@dataclass(frozen=True)
class BreakerState:
    """One host's circuit, as ``Scheduler.stats().breakers`` shows it."""

    #: ``"closed"``, ``"open"`` or ``"half_open"``.
    state: str
    #: Consecutive failures counted so far.
    failures: int
    #: The code of the last failure (an HttpError code, or a 5xx status); 0 if none.
    last_code: int


class _Host:
    __slots__ = ("failures", "last_code", "opened_at", "trial")

    def __init__(self) -> None:
        self.failures = 0
        self.last_code = 0
        self.opened_at: float | None = None  # None: closed
        self.trial = False  # half-open and its trial is running


class HostBreakers:
    """The circuit of each host of one scheduler (no lock, no clock: see the module)."""

    __slots__ = ("_hosts", "policy")

    def __init__(self, policy: CircuitBreaker) -> None:
        self.policy = policy
        self._hosts: dict[str, _Host] = {}

    def admit(self, host: str, now: float) -> Verdict:
        """A request of ``host`` is about to start: may it?"""
        state = self._hosts.get(host)
        if state is None or state.opened_at is None:
            return Verdict.PASS
        if state.trial or now - state.opened_at < self.policy.reset_after:
            return Verdict.REJECT
        state.trial = True
        return Verdict.TRIAL

    def record(self, host: str, outcome: int, now: float, *, trial: bool = False) -> None:
        """A request of ``host`` admitted by :meth:`admit` ended with ``outcome``.

        ``outcome`` is :meth:`CircuitBreaker.classify`'s; ``trial`` is whether
        ``admit`` said TRIAL. Outcomes of requests that started before the
        circuit opened do not move an open circuit.
        """
        hosts = self._hosts
        state = hosts.get(host)
        if state is not None and state.opened_at is not None:
            if not trial:
                return
            state.trial = False
            if outcome == SUCCESS:
                del hosts[host]
            elif outcome != NEUTRAL:
                state.last_code = outcome
                state.failures += 1
                state.opened_at = now
            return
        if outcome == NEUTRAL:
            return
        if outcome == SUCCESS:
            if state is not None:
                del hosts[host]
            return
        if state is None:
            state = hosts[host] = _Host()
        state.failures += 1
        state.last_code = outcome
        if state.failures >= self.policy.failures:
            state.opened_at = now

    def error(self, host: str, now: float) -> HttpError:
        """The error a request rejected by :meth:`admit` ends with."""
        state = self._hosts.get(host)
        code = state.last_code if state is not None else 0
        failures = state.failures if state is not None else 0
        opened = state.opened_at if state is not None and state.opened_at is not None else now
        return open_error(host, failures, code, self.policy.reset_after - (now - opened))

    def state(self, host: str, now: float) -> BreakerState:
        """``host``'s circuit now."""
        state = self._hosts.get(host)
        if state is None:
            return BreakerState(CLOSED, 0, 0)
        return BreakerState(self._name(state, now), state.failures, state.last_code)

    def snapshot(self, now: float) -> dict[str, BreakerState]:
        """Every host whose circuit is open, half-open, or closed with failures counted."""
        return {
            host: BreakerState(self._name(state, now), state.failures, state.last_code)
            for host, state in self._hosts.items()
        }

    def _name(self, state: _Host, now: float) -> str:
        if state.opened_at is None:
            return CLOSED
        if state.trial or now - state.opened_at >= self.policy.reset_after:
            return HALF_OPEN
        return OPEN

    def __len__(self) -> int:
        return len(self._hosts)
