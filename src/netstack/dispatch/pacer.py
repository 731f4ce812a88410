"""Pacer: spaces the starts of one host's jobs. Pure: ``now`` is passed in.

Each host has *limits* (:class:`PaceLimits`): ``min_delay`` seconds between
two starts, and a token bucket of ``burst`` tokens refilled at ``rate`` per
second (``rate`` None: no bucket); a start waits for both. The limits of a
host come from a lookup the owner gives (the client maps its
``PolitenessPolicy`` and per-host overrides to it), so the dispatcher holds
no policy value of its own.

How a queue backend uses it: when a job of host ``h`` starts,
:meth:`Pacer.started` returns when ``h`` may next start; if that is later
and ``h`` has more jobs waiting, the backend *holds* ``h`` (off the ready
hosts, so other hosts are not delayed) until then. A job pushed for a host
that is not due (:meth:`Pacer.due`) holds the host the same way. Cost per
start: a dict lookup and a few float operations; a host's record is pruned
once its limits have recovered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["PaceLimits", "Pacer"]


class PaceLimits(Protocol):
    """The per-host limits the pacer applies (``PolitenessPolicy`` is one)."""

    @property
    def min_delay(self) -> float: ...
    @property
    def rate(self) -> float | None: ...
    @property
    def burst(self) -> int: ...


class _Pace:
    """One host's bookkeeping: its limits, bucket and when it is unconstrained again."""

    __slots__ = ("burst", "due", "free_at", "min_delay", "rate", "stamp", "tokens")

    def __init__(self, limits: PaceLimits, now: float) -> None:
        self.min_delay = limits.min_delay
        self.rate = limits.rate
        self.burst = float(limits.burst)
        self.tokens = self.burst
        self.stamp = now
        self.free_at = now
        self.due = now


class Pacer:
    """Applies per-host limits: :meth:`started` records a start, returns the next due time."""

    __slots__ = ("_hosts", "_limits_for", "_prune_at")

    def __init__(self, limits_for: Callable[[str], PaceLimits]) -> None:
        self._limits_for = limits_for
        self._hosts: dict[str, _Pace] = {}
        self._prune_at = 1024

    def __len__(self) -> int:
        """Hosts with bookkeeping (recently started, not yet recovered)."""
        return len(self._hosts)

    def limits_for(self, host: str) -> PaceLimits:
        """The limits that apply to ``host``."""
        return self._limits_for(host)

    def started(self, host: str, now: float) -> float:
        """A job of ``host`` starts at ``now``: the earliest time the next one may start."""
        pace = self._hosts.get(host)
        if pace is None:
            if len(self._hosts) >= self._prune_at:
                self._prune(now)
            pace = self._hosts[host] = _Pace(self._limits_for(host), now)
        due = now + pace.min_delay
        rate = pace.rate
        if rate is not None:
            tokens = min(pace.burst, pace.tokens + (now - pace.stamp) * rate) - 1.0
            pace.tokens = tokens
            pace.stamp = now
            if tokens < 1.0:
                due = max(due, now + (1.0 - tokens) / rate)
            pace.free_at = max(due, now + (pace.burst - tokens) / rate)
        else:
            pace.free_at = due
        pace.due = due
        return due

    def due(self, host: str) -> float | None:
        """When ``host`` may next start (None: no record, so now)."""
        pace = self._hosts.get(host)
        return None if pace is None else pace.due

    def _prune(self, now: float) -> None:
        """Forget hosts whose limits have fully recovered (they start afresh identically)."""
        hosts = self._hosts
        for host in [h for h, p in hosts.items() if p.free_at <= now]:
            del hosts[host]
        self._prune_at = max(1024, 2 * len(hosts))

    def __repr__(self) -> str:
        return f"<Pacer hosts={len(self._hosts)}>"
