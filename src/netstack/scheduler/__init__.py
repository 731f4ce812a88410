"""The queue and the worker pool: priorities, per-host limits, futures."""

from __future__ import annotations

from netstack.dispatch.tags import TagStats
from netstack.politeness import PolitenessPolicy
from netstack.retry import RetryPolicy
from netstack.scheduler.default import get_default_scheduler
from netstack.scheduler.future import RequestFuture
from netstack.scheduler.scheduler import Scheduler, SchedulerStats

__all__ = [
    "PolitenessPolicy",
    "RequestFuture",
    "RetryPolicy",
    "Scheduler",
    "SchedulerStats",
    "TagStats",
    "get_default_scheduler",
]
