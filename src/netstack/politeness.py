"""PolitenessPolicy: how far apart requests to one host start. A value; no clock.

``Scheduler(politeness=PolitenessPolicy(min_delay=1.0, rate=None, per_host={...}))``
spaces the *starts* of requests to one host (the host key of the URL):

- ``min_delay``: at least this many seconds between two starts;
- ``rate``: a token bucket of ``burst`` tokens refilled at ``rate`` per second;
  each start takes one token;
- ``per_host``: patterns (exact or ``*.suffix``, as in ``allowed_hosts``)
  mapped to a PolitenessPolicy, or to a number meaning ``min_delay``; the most
  specific pattern wins, and a host no pattern matches uses the outer policy.

Both limits may be set: a start waits for both. The scheduler applies the
policy with the dispatcher's ``Pacer`` (``netstack.dispatch.pacer``, built by
``netstack.scheduler.politeness.pacer_for``); with a Redis queue the pace is kept
in Redis, shared by every worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from netstack.errors import HttpError
from netstack.hosts import HostPatterns
from netstack.limits import MAX_SECONDS

__all__ = ["PolitenessPolicy"]


def _seconds(name: str, value: object, low: float, high: float = MAX_SECONDS) -> float:
    """A number in [low, high]; an int compares before any float conversion (no overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise HttpError.parameter(
            f"politeness.{name}: must be a number in [{low}, {high}], got {value!r}"
        )
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
        if self.rate is not None:  # one token per MAX_SECONDS at least: a wait a timer can hold
            _seconds("rate", self.rate, 1 / MAX_SECONDS, 1e9)
        burst = self.burst
        if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
            raise HttpError.parameter(
                f"politeness.burst: must be an int in [1, 1000000], got {burst!r}"
            )
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
