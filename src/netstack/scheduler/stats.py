"""SchedulerStats: a snapshot of a scheduler's counters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netstack.breaker import BreakerState
from netstack.dispatch.tags import TagStats

__all__ = ["SchedulerStats"]


@dataclass(frozen=True, kw_only=True)
class SchedulerStats:
    """A snapshot of a scheduler's counters.

    ``queued`` are waiting, ``running`` hold a worker, ``retrying`` wait out
    a retry backoff (they hold nothing). Every request ends as exactly one of
    ``completed`` (cache hits included), ``failed`` or ``cancelled``, so once
    all have ended their sum equals ``submitted``. ``tags`` has the same
    counts for each tag (``queued`` there includes ``retrying``).
    """

    submitted: int
    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    cache_hits: int
    retrying: int = 0
    #: Requests that consulted a response cache and went to the network
    #: (a miss, or a stale entry revalidated).
    cache_misses: int = 0
    tags: Mapping[str, TagStats] = field(default_factory=dict)
    #: With ``breaker``: each host whose circuit is open, half-open, or counting failures.
    breakers: Mapping[str, BreakerState] = field(default_factory=dict)
    #: With ``adaptive``: each host's current limit of requests in flight.
    host_limits: Mapping[str, int] = field(default_factory=dict)
