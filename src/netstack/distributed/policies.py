"""Policies: what a producer's Scheduler is configured with, in the form that travels.

A ``Scheduler(queue=RedisQueue(...), retry=..., politeness=...,
allowed_hosts=..., blocked_hosts=...)`` runs none of its requests itself,
so its policies go with each request:

- ``retry``: the request's ``retry`` option when it has none (the worker
  applies it: a retry waits in Redis, see ``ops.py``);
- ``politeness``: the host's pace in the job's header, ``"<gap ms>,<interval
  ms>,<burst>"``, applied in Redis when a worker leases (every worker
  process shares it);
- host rules: the payload's ``hosts`` (allowed and blocked patterns),
  checked by the worker on every redirect hop;
- ``aging``: in the request's rank in Redis (see ``ops.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netstack.hosts import HostPatterns
from netstack.politeness import PolitenessPolicy

if TYPE_CHECKING:
    from netstack.retry import RetryPolicy

__all__ = ["Policies", "pace_of"]


def pace_of(policy: PolitenessPolicy | None) -> str:
    """``"<gap ms>,<interval ms>,<burst>"`` of a host's policy; ``""`` when it never delays."""
    if policy is None or (policy.min_delay <= 0 and policy.rate is None):
        return ""
    interval = 0.0 if policy.rate is None else 1000.0 / policy.rate
    return f"{policy.min_delay * 1000:.3f},{interval:.3f},{policy.burst}"


@dataclass
class Policies:
    """A producer's policies; ``pace(host)`` is cached per host."""

    retry: RetryPolicy | None = None
    politeness: PolitenessPolicy | None = None
    #: Seconds of waiting worth one priority step (0: none).
    aging: float = 0.0
    #: ``{"allowed": [...] | None, "blocked": [...]}``, or None without rules.
    hosts: dict[str, Any] | None = None
    #: ``[failures, reset_after]`` of the producer's circuit breaker, or None.
    breaker: list[float] | None = None
    _paces: dict[str, str] = field(default_factory=dict)
    _overrides: HostPatterns[PolitenessPolicy] | None = None

    @classmethod
    def of(cls, scheduler: Any) -> Policies:
        """The policies of ``scheduler`` (its public properties)."""
        allowed = getattr(scheduler, "allowed_hosts", None)
        blocked = getattr(scheduler, "blocked_hosts", ())
        hosts = None
        if allowed is not None or blocked:
            hosts = {
                "allowed": None if allowed is None else list(allowed),
                "blocked": list(blocked),
            }
        politeness = getattr(scheduler, "politeness", None)
        breaker = getattr(scheduler, "breaker", None)
        policies = cls(
            retry=getattr(scheduler, "retry", None),
            politeness=politeness,
            aging=getattr(scheduler, "aging", None) or 0.0,
            hosts=hosts,
            breaker=None if breaker is None else [breaker.failures, breaker.reset_after],
        )
        if politeness is not None and politeness.per_host:
            policies._overrides = HostPatterns(
                "politeness.per_host",
                {k: v for k, v in politeness.per_host.items() if isinstance(v, PolitenessPolicy)},
            )
        return policies

    def pace(self, host: str) -> str:
        """The pace of ``host``'s requests (``""``: none)."""
        if self.politeness is None:
            return ""
        found = self._paces.get(host)
        if found is None:
            policy = self._overrides.lookup(host) if self._overrides is not None else None
            found = self._paces[host] = pace_of(policy or self.politeness)
            if len(self._paces) > 10_000:
                self._paces.clear()
        return found
