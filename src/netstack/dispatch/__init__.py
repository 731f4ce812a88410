"""The dispatcher: when jobs run. It knows jobs (a host key, a priority, a tag,
``run`` and ``abort``), never HTTP.

- ``state.py``: :class:`Dispatcher`, the decisions, with no threads and no
  clock: methods return :class:`Effects`;
- ``pool.py``: :class:`WorkerPool`, the threads that apply them;
- ``backend.py``: :class:`QueueBackend`, the interface of where jobs wait;
  ``local.py`` is the in-process one (``queue.py``, ``timers.py``,
  ``pacer.py``, ``aging.py`` are its parts); ``RedisQueue`` the shared one;
  :class:`LeasedBackend` the one of a process running a shared queue's
  leases (``netstack worker``);
- ``ticket.py``: the future of a job; ``job.py``: what a job is;
  ``tags.py``: per-tag counts; ``trim.py``: what a failed future keeps.

This package imports nothing above it (no call, transport, cache,
distributed, api, cli or client module): an import-linter contract checks it.
"""

from __future__ import annotations

from netstack.dispatch.backend import BackendStats, LeasedBackend, QueueBackend
from netstack.dispatch.errors import QueueFullError, SchedulerShutdownError
from netstack.dispatch.job import Job, RetryRule
from netstack.dispatch.local import LocalQueue
from netstack.dispatch.pool import PoolStats, WorkerPool
from netstack.dispatch.state import Dispatcher, Effects
from netstack.dispatch.ticket import Ticket

__all__ = [
    "BackendStats",
    "Dispatcher",
    "Effects",
    "Job",
    "LeasedBackend",
    "LocalQueue",
    "PoolStats",
    "QueueBackend",
    "QueueFullError",
    "RetryRule",
    "SchedulerShutdownError",
    "Ticket",
    "WorkerPool",
]
