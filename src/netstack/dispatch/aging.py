"""Aging: a waiting request's effective priority rises with its wait. Pure.

``Scheduler(aging=A)`` (seconds; off by default). The formula::

    effective(now) = priority + (now - enqueued) / A

Requests run by effective priority, larger first, then submission order. A
request waiting ``A`` seconds gains one priority step; after
``(1000 - priority) * A`` seconds it runs before anything submitted later,
whatever its priority, so no request starves under a stream of higher ones.
``future.priority`` still reports the priority it was given.

Why this costs nothing per dispatch: every waiting request ages at the same
rate, so the *order* between two of them never changes with time::

    effective_a(now) > effective_b(now)
    <=>  priority_a - enqueued_a / A  >  priority_b - enqueued_b / A

The queue therefore keys each entry once, at push, by the time-invariant
``rank = enqueued / A - priority`` (smaller runs first) instead of by
``-priority``; pop, ``set_priority`` (rank shifts by the priority change) and
cancel stay O(log n), and nothing is ever re-heapified or promoted. That is
also why the formula is linear and unbounded (effective priorities may pass
1000 internally): a floor or a cap would make the order depend on ``now`` and
need periodic re-keying. A retried request re-enters with a fresh
``enqueued`` (its wait restarts).
"""

from __future__ import annotations

from netstack.errors import HttpError
from netstack.limits import MAX_SECONDS

__all__ = ["Aging", "effective_priority"]


def effective_priority(priority: int, waited: float, interval: float) -> float:
    """The documented formula: ``priority + waited / interval``."""
    return priority + waited / interval


class Aging:
    """Turns enqueue times into the queue's rank base (``enqueued / interval``).

    Times are taken relative to ``origin`` so that the floats stay small and
    exact enough (a rank never loses the priority's integer part).
    """

    __slots__ = ("interval", "origin")

    def __init__(self, interval: float, origin: float) -> None:
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int | float)
            or not 0 < interval <= MAX_SECONDS  # compared before float(): 10**400 is refused
        ):
            raise HttpError.parameter(
                f"aging: must be a number of seconds in (0, {MAX_SECONDS}], got {interval!r}"
            )
        self.interval = float(interval)
        self.origin = origin

    def base(self, now: float) -> float:
        """The rank base of a request enqueued at ``now``: its rank is ``base - priority``."""
        return (now - self.origin) / self.interval

    def __repr__(self) -> str:
        return f"<Aging +1 priority per {self.interval:g}s waited>"
