"""The process-wide default scheduler, used by ``create_http()`` without one."""

from __future__ import annotations

import threading

from netstack.scheduler.scheduler import Scheduler

__all__ = ["get_default_scheduler"]

_lock = threading.Lock()
_default: Scheduler | None = None


def get_default_scheduler() -> Scheduler:
    """The process-wide Scheduler, created on first use with the default settings.

    Thread-safe. Its workers are daemon threads; at interpreter exit (before
    non-daemon threads are joined) it is shut down with ``wait=True``, so
    queued requests still finish, as with ``ThreadPoolExecutor``. If a caller
    shut it down explicitly, the next call creates a fresh one.
    """
    scheduler = _default
    if scheduler is not None and not scheduler.jobs.closed:
        return scheduler
    return _create()


def _create() -> Scheduler:
    global _default  # noqa: PLW0603  (the one process-wide instance)
    with _lock:
        scheduler = _default
        if scheduler is None or scheduler.jobs.closed:
            # Every Scheduler registers with the exit hook in scheduler.py,
            # which shuts it down with wait=True before the interpreter joins
            # its threads (threading._register_atexit, else atexit).
            scheduler = _default = Scheduler()
        return scheduler
