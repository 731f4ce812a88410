"""AdaptiveConcurrency: a per-host limit found by AIMD, as TCP and AutoThrottle do. Pure.

Given as ``Scheduler(adaptive=True)`` (these defaults) or
``Scheduler(adaptive=AdaptiveConcurrency(...))``. Each host starts at
``start`` requests in flight; then, per finished request:

- **congestion** (a timeout 2300028, a 429 or 503 answer, or latency risen
  past ``tolerance`` times the host's base latency): the limit is multiplied
  by ``decrease`` (at most once per round trip, so the requests already in
  flight under the old limit do not cut it again);
- **flat latency**: the limit grows by ``increase`` per round of ``limit``
  requests (``increase / limit`` per request), as TCP's congestion avoidance;
- anything else (an abort, a 404, a certificate error) changes nothing.

The limit stays within ``[1, max_per_host]`` (``max_limit`` lowers the top).
Latency is smoothed (an EWMA with weight ``smoothing``); the base latency is
the lowest seen; at a limit of one it drifts up towards what the host answers
in now, so a host that became slower for good is not pinned there forever.

:class:`HostLimits` keeps each host's state; it has no lock and no clock: the
dispatcher calls it under its own lock with ``time.monotonic()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from netstack.errors import TIMEOUT, HttpError

__all__ = ["CONGESTED", "FLAT", "NEUTRAL", "AdaptiveConcurrency", "HostLimits"]

#: :meth:`AdaptiveConcurrency.classify` of an outcome that says the host is overloaded.
CONGESTED: Final = 1
#: ... of an answered request: its latency decides.
FLAT: Final = 0
#: ... of an outcome that says nothing about the host's load.
NEUTRAL: Final = -1

#: Seconds of latency rise too small to mean anything on a loaded machine (timer noise).
_NOISE: Final = 0.002
#: How far the base latency moves towards each sample above it, at a limit of one.
_DRIFT: Final = 0.1


def _fail(field_name: str, what: str, value: object) -> HttpError:
    return HttpError.parameter(f"adaptive.{field_name}: {what}, got {value!r}")


def _number(field_name: str, value: object, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not low <= value <= high  # compared before float(): no overflow; False for NaN
    ):
        raise _fail(field_name, f"must be a number in [{low}, {high}]", value)
    return float(value)


@dataclass(frozen=True, kw_only=True)
class AdaptiveConcurrency:
    """How each host's limit of requests in flight adapts (see the module docstring)."""

    #: Requests in flight a host starts with.
    start: int = 2
    #: Upper bound of a host's limit; None: the scheduler's ``max_per_host``.
    max_limit: int | None = None
    #: Requests added to the limit per round of ``limit`` requests with flat latency.
    increase: float = 1.0
    #: Factor the limit is multiplied by on congestion, in (0, 1).
    decrease: float = 0.5
    #: Smoothed latency above ``tolerance`` times the base latency is congestion.
    tolerance: float = 1.5
    #: Weight of a new latency sample in the smoothed latency, in (0, 1].
    smoothing: float = 0.2
    #: Answers that mean "slow down".
    statuses: frozenset[int] = field(default=frozenset({429, 503}))

    def __post_init__(self) -> None:
        for name in ("start", "max_limit"):
            value = getattr(self, name)
            if name == "max_limit" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _fail(name, "must be an int >= 1", value)
        _number("increase", self.increase, 0.0, 1000.0)
        decrease = _number("decrease", self.decrease, 0.0, 1.0)
        if decrease in (0.0, 1.0):
            raise _fail("decrease", "must be a number in (0, 1)", self.decrease)
        _number("tolerance", self.tolerance, 1.0, 1000.0)
        if _number("smoothing", self.smoothing, 0.0, 1.0) == 0.0:
            raise _fail("smoothing", "must be a number in (0, 1]", self.smoothing)
        statuses = self.statuses
        if (
            isinstance(statuses, str | bytes)
            or not isinstance(statuses, Iterable)
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in statuses)
        ):
            raise _fail("statuses", "must be a set of ints", statuses)
        object.__setattr__(self, "statuses", frozenset(statuses))

    def classify(self, result: object, error: BaseException | None) -> int:
        """CONGESTED, FLAT (latency decides) or NEUTRAL for an attempt's outcome."""
        if error is not None:
            code = error.code if isinstance(error, HttpError) else None
            return CONGESTED if code == TIMEOUT else NEUTRAL
        status = getattr(result, "response_code", result)
        return CONGESTED if status in self.statuses else FLAT


class _Host:
    __slots__ = ("base", "cut_at", "latency", "limit")

    def __init__(self, start: float) -> None:
        self.limit = start
        self.latency = 0.0  # smoothed; 0 until the first sample
        self.base = math.inf
        self.cut_at = -math.inf


class HostLimits:
    """Each host's current limit under one :class:`AdaptiveConcurrency` (see the module)."""

    __slots__ = ("_hosts", "_start", "ceiling", "policy")

    def __init__(self, policy: AdaptiveConcurrency, max_per_host: int) -> None:
        self.policy = policy
        #: The highest a limit goes: ``max_per_host``, or ``max_limit`` if lower.
        self.ceiling = min(max_per_host, policy.max_limit or max_per_host)
        self._start = float(min(policy.start, self.ceiling))
        self._hosts: dict[str, _Host] = {}

    def limit(self, host: str) -> int:
        """How many requests of ``host`` may be in flight now."""
        state = self._hosts.get(host)
        return int(self._start if state is None else state.limit)

    def touch(self, host: str) -> int | None:
        """Start tracking ``host``: its starting limit if it is new, else None."""
        if host in self._hosts:
            return None
        self._hosts[host] = _Host(self._start)
        return int(self._start)

    def record(
        self, host: str, outcome: int, latency: float, now: float, *, full: bool = True
    ) -> int:
        """A request of ``host`` ended after ``latency`` seconds; returns the new limit.

        ``outcome`` is :meth:`AdaptiveConcurrency.classify`'s. ``full``: the
        host had as many requests in flight as its limit when this one
        started; a limit that is not used is not raised (as TCP's congestion
        window validation, RFC 7661), so an idle or slow client does not
        inflate it to ``max_per_host`` untested.
        """
        if outcome == NEUTRAL:
            return self.limit(host)
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(self._start)
        policy = self.policy
        if outcome == FLAT and latency >= 0:
            if state.latency == 0.0:
                state.latency = latency
            else:
                state.latency += policy.smoothing * (latency - state.latency)
            if latency < state.base:
                state.base = latency
            elif state.limit < 2.0:  # at the floor and still slow: the host is slower now
                state.base += _DRIFT * (latency - state.base)
            if state.latency > state.base * policy.tolerance + _NOISE:
                outcome = CONGESTED
        if outcome == CONGESTED:
            if now - state.cut_at >= state.latency:  # once per round trip
                state.limit = max(1.0, state.limit * policy.decrease)
                state.cut_at = now
        elif full:
            state.limit = min(float(self.ceiling), state.limit + policy.increase / state.limit)
        return int(state.limit)

    def snapshot(self) -> dict[str, int]:
        """The current limit of every host seen so far."""
        return {host: int(state.limit) for host, state in self._hosts.items()}
