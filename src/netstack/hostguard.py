"""HostGuard: a scheduler's circuit breaker and adaptive limits, around each attempt.

The client composes it: ``Scheduler(breaker=..., adaptive=...)`` builds one
and gives it to every call it prepares; ``Call.run`` then runs each attempt
through :meth:`HostGuard.run`. The dispatcher knows nothing of it: a request
whose host's circuit is open fails inside ``run`` before any connection (the
worker is held for microseconds), and a host's adaptive limit reaches the
queue through the ``set_limit`` callback the scheduler passes (the
dispatcher's per-host slot count). A scheduler without either policy has no
guard, and its calls pay one ``is None`` test per attempt.

The pure state lives in :mod:`netstack.breaker` and :mod:`netstack.adaptive`;
this module adds the lock and the clock. Latency, for the adaptive limit, is
an attempt's whole run (connect, redirects, transfer).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, TypeVar

from netstack.adaptive import AdaptiveConcurrency, HostLimits
from netstack.breaker import BreakerState, CircuitBreaker, HostBreakers, Verdict

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netstack.errors import HttpError

__all__ = ["HostGuard"]

R = TypeVar("R")
_monotonic = time.monotonic


class BreakerStore(Protocol):
    """Where the circuits live: :class:`HostBreakers` in process, or shared (Redis)."""

    policy: CircuitBreaker

    def admit(self, host: str, now: float) -> Verdict: ...
    def record(self, host: str, outcome: int, now: float, *, trial: bool = False) -> None: ...
    def error(self, host: str, now: float) -> HttpError: ...
    def snapshot(self, now: float) -> dict[str, BreakerState]: ...


class HostGuard:
    """Per-host circuit breaker and adaptive concurrency for one scheduler."""

    __slots__ = ("_breaker_lock", "_breakers", "_flying", "_limits", "_lock", "_set_limit")

    def __init__(
        self,
        breaker: CircuitBreaker | None,
        adaptive: AdaptiveConcurrency | None,
        max_per_host: int,
        set_limit: Callable[[str, int], None] | None = None,
        *,
        store: BreakerStore | None = None,
    ) -> None:
        self._lock = threading.Lock()
        #: ``store`` shares the circuits (Redis); else they live in this process.
        self._breakers: BreakerStore | None = (
            store if store is not None else None if breaker is None else HostBreakers(breaker)
        )
        self._limits = None if adaptive is None else HostLimits(adaptive, max_per_host)
        self._set_limit = set_limit
        #: A shared store is atomic by itself (one Lua call each): no lock held over I/O.
        self._breaker_lock: AbstractContextManager[object] = (
            contextlib.nullcontext() if store is not None else self._lock
        )
        #: Attempts in flight per host (with adaptive limits only).
        self._flying: dict[str, int] = {}

    @property
    def breaker(self) -> CircuitBreaker | None:
        return None if self._breakers is None else self._breakers.policy

    @property
    def adaptive(self) -> AdaptiveConcurrency | None:
        return None if self._limits is None else self._limits.policy

    def submitted(self, host: str) -> None:
        """A request of ``host`` is about to be queued: a host seen for the first time
        starts at the adaptive policy's ``start`` limit."""
        limits = self._limits
        if limits is None or self._set_limit is None or not host:
            return
        with self._lock:
            new = limits.touch(host)
            if new is not None:
                self._set_limit(host, new)

    def admit(self, host: str) -> Verdict:
        """A request of ``host`` is about to run an attempt: raise its circuit's error if
        it is open, else return the verdict to hand to :meth:`run`."""
        breakers = self._breakers
        if breakers is None:
            return Verdict.PASS
        with self._breaker_lock:
            now = _monotonic()
            verdict = breakers.admit(host, now)
            if verdict is Verdict.REJECT:
                raise breakers.error(host, now)
        return verdict

    def run(self, host: str, verdict: Verdict, attempt: Callable[[], R]) -> R:
        """Run one admitted attempt of a request of ``host`` and record how it went."""
        full = True
        limits = self._limits
        if limits is not None:
            with self._lock:
                flying = self._flying[host] = self._flying.get(host, 0) + 1
                full = flying >= limits.limit(host)
        began = _monotonic()
        try:
            result = attempt()
        except BaseException as error:
            self._ended(host, verdict, None, error, began, full)
            raise
        self._ended(host, verdict, result, None, began, full)
        return result

    def _ended(
        self,
        host: str,
        verdict: Verdict,
        result: object,
        error: BaseException | None,
        began: float,
        full: bool,
    ) -> None:
        now = _monotonic()
        breakers = self._breakers
        if breakers is not None:
            outcome = breakers.policy.classify(result, error)
            with self._breaker_lock:
                breakers.record(host, outcome, now, trial=verdict is Verdict.TRIAL)
        limits = self._limits
        if limits is not None:
            with self._lock:  # the order: this lock, then the dispatcher's (set_limit)
                flying = self._flying[host] - 1
                if flying:
                    self._flying[host] = flying
                else:
                    del self._flying[host]
                before = limits.limit(host)
                outcome = limits.policy.classify(result, error)
                after = limits.record(host, outcome, now - began, now, full=full)
                if after != before and self._set_limit is not None:
                    self._set_limit(host, after)

    def breaker_states(self) -> Mapping[str, BreakerState]:
        """Hosts whose circuit is open, half-open, or counting failures."""
        if self._breakers is None:
            return {}
        with self._breaker_lock:
            return self._breakers.snapshot(_monotonic())

    def host_limits(self) -> Mapping[str, int]:
        """The adaptive limit of every host seen so far."""
        if self._limits is None:
            return {}
        with self._lock:
            return self._limits.snapshot()
