"""PolitenessPolicy and the Pacer that applies it per host. Pure: ``now`` is passed in.

``Scheduler(politeness=PolitenessPolicy(min_delay=1.0, rate=None, per_host={...}))``
spaces the *starts* of requests to one host (the host key of the URL):

- ``min_delay``: at least this many seconds between two starts;
- ``rate``: a token bucket of ``burst`` tokens refilled at ``rate`` per second;
  each start takes one token;
- ``per_host``: patterns (exact or ``*.suffix``, as in ``allowed_hosts``)
  mapped to a PolitenessPolicy, or to a number meaning ``min_delay``; the most
  specific pattern wins, and a host no pattern matches uses the outer policy.

Both limits may be set: a start waits for both. How the scheduler uses the
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

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from netstack.errors import HttpError
from netstack.scheduler.rules import HostPatterns

__all__ = ["Pacer", "PolitenessPolicy"]


def _seconds(name: str, value: object, low: float, *, exclusive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise HttpError.parameter(f"politeness.{name}: must be a finite number, got {value!r}")
    if value < low or (exclusive and value == low):
        op = ">" if exclusive else ">="
        raise HttpError.parameter(f"politeness.{name}: must be {op} {low}, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class PolitenessPolicy:
    """Per-host spacing of request starts (see the module docstring)."""

    #: Seconds between two request starts to one host.
    min_delay: float = 0.0
    #: Starts per second per host (token bucket), or None for no rate limit.
    rate: float | None = None
    #: Token bucket size: starts allowed back to back after an idle spell.
    burst: int = 1
    #: Overrides by host pattern: a PolitenessPolicy, or a number (its min_delay).
    per_host: Mapping[str, PolitenessPolicy | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _seconds("min_delay", self.min_delay, 0.0)
        if self.rate is not None:
            _seconds("rate", self.rate, 0.0, exclusive=True)
        burst = self.burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise HttpError.parameter(f"politeness.burst: must be an int >= 1, got {burst!r}")
        if not isinstance(self.per_host, Mapping):
            raise HttpError.parameter(
                f"politeness.per_host: must be a mapping of host patterns, got {self.per_host!r}"
            )
        overrides: dict[str, PolitenessPolicy | float] = {}
        for pattern, value in self.per_host.items():
            if isinstance(value, PolitenessPolicy):
                if value.per_host:
                    raise HttpError.parameter(
                        f"politeness.per_host[{pattern!r}]: overrides cannot nest per_host"
                    )
                overrides[pattern] = value
            else:
                overrides[pattern] = PolitenessPolicy(
                    min_delay=_seconds(f"per_host[{pattern!r}]", value, 0.0)
                )
        HostPatterns("politeness.per_host", overrides)  # 401 for a bad pattern, now
        object.__setattr__(self, "per_host", overrides)

    @property
    def limits(self) -> bool:
        """False when this policy (overrides included) never delays anything."""
        return (
            self.min_delay > 0
            or self.rate is not None
            or any(isinstance(p, PolitenessPolicy) and p.limits for p in self.per_host.values())
        )


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
