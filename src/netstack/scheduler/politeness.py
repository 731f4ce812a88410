"""The Pacer: applies a PolitenessPolicy per host. Pure: ``now`` is passed in.

The policy (``netstack.politeness.PolitenessPolicy``) spaces the *starts* of requests to one
host (the host key of the URL). How the scheduler uses the
:class:`Pacer`: when a worker takes a request of host ``h`` off the queue,
:meth:`Pacer.started` returns when ``h`` may next start; if that is in the
future and ``h`` has more requests waiting, ``h`` is *held* (it leaves the
queue's heap of ready hosts, so the dispatcher never looks at it and other
hosts are not delayed) and a timer releases it when due. A request pushed
for a host that is not due (:meth:`Pacer.due`) holds the host the same way.
Cost per start: a dict lookup and a few float operations; the per-host state
is pruned once a host's limits have recovered.
"""

from __future__ import annotations

from netstack.hosts import HostPatterns
from netstack.politeness import PolitenessPolicy

__all__ = ["Pacer"]


class _Pace:
    """One host's bookkeeping: its policy, bucket and when it is unconstrained again."""

    __slots__ = ("burst", "due", "free_at", "min_delay", "rate", "stamp", "tokens")

    def __init__(self, policy: PolitenessPolicy, now: float) -> None:
        self.min_delay = policy.min_delay
        self.rate = policy.rate
        self.burst = float(policy.burst)
        self.tokens = self.burst
        self.stamp = now
        self.free_at = now
        self.due = now


class Pacer:
    """Applies a PolitenessPolicy: :meth:`started` records a start, returns the next due time."""

    __slots__ = ("_default", "_hosts", "_overrides", "_prune_at")

    def __init__(self, policy: PolitenessPolicy) -> None:
        self._default = policy
        self._overrides: HostPatterns[PolitenessPolicy] = HostPatterns(
            "politeness.per_host",
            {k: v for k, v in policy.per_host.items() if isinstance(v, PolitenessPolicy)},
        )
        self._hosts: dict[str, _Pace] = {}
        self._prune_at = 1024

    def __len__(self) -> int:
        """Hosts with bookkeeping (recently started, not yet recovered)."""
        return len(self._hosts)

    def policy_for(self, host: str) -> PolitenessPolicy:
        """The policy that applies to ``host``."""
        if self._overrides:
            override = self._overrides.lookup(host)
            if override is not None:
                return override
        return self._default

    def started(self, host: str, now: float) -> float:
        """A request of ``host`` starts at ``now``: the earliest time the next one may start."""
        pace = self._hosts.get(host)
        if pace is None:
            if len(self._hosts) >= self._prune_at:
                self._prune(now)
            pace = self._hosts[host] = _Pace(self.policy_for(host), now)
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
