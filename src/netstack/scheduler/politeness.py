"""pacer_for: the dispatcher's Pacer for a ``PolitenessPolicy`` and its per-host overrides.

The policy value lives in ``netstack.politeness``; the pacing arithmetic in
``netstack.dispatch.pacer`` (which knows per-host limits, not policies).
"""

from __future__ import annotations

from netstack.dispatch.pacer import Pacer
from netstack.hosts import HostPatterns
from netstack.politeness import PolitenessPolicy

__all__ = ["pacer_for"]


def pacer_for(policy: PolitenessPolicy) -> Pacer:
    """The dispatcher's :class:`Pacer` applying ``policy`` and its per-host overrides."""
    overrides: HostPatterns[PolitenessPolicy] = HostPatterns(
        "politeness.per_host",
        {k: v for k, v in policy.per_host.items() if isinstance(v, PolitenessPolicy)},
    )
    if not overrides:
        return Pacer(lambda host: policy)

    def limits_for(host: str) -> PolitenessPolicy:
        override = overrides.lookup(host)
        return policy if override is None else override

    return Pacer(limits_for)
