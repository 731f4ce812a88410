"""The two errors a dispatcher raises at submit: closed, or full."""

from __future__ import annotations

from netstack.errors import HttpError

__all__ = ["QueueFullError", "SchedulerShutdownError"]


class SchedulerShutdownError(HttpError, RuntimeError):
    """2300999: the scheduler was shut down and accepts no more requests."""


class QueueFullError(HttpError):
    """2300999: ``max_queue`` requests are already waiting; try again later."""
