"""The queue and the worker pool: priorities, per-host limits, futures."""

from __future__ import annotations

from netstack.scheduler.default import get_default_scheduler
from netstack.scheduler.future import RequestFuture
from netstack.scheduler.scheduler import Scheduler, SchedulerStats

__all__ = ["RequestFuture", "Scheduler", "SchedulerStats", "get_default_scheduler"]
