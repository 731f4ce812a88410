"""Job: what the dispatcher runs. It knows a job's host key, priority and tag, nothing more.

``run()`` is called on a worker thread (again for each retry); ``abort()``
from any thread makes a running ``run()`` end promptly. Optional attributes,
read with ``getattr`` (a job without them gets the defaults): ``tag`` (str
or None), ``attempts`` (runs so far, for logs). Whether an outcome is
retried, and after how long, is decided by a :data:`RetryRule` the owner of
the dispatcher gives (the client maps its retry policy to it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeAlias

__all__ = ["Job", "RetryRule"]


class Job(Protocol):
    """One unit of work for a worker thread."""

    #: Jobs with the same key share the per-host limit and pacing.
    host_key: str
    #: For logs only.
    url: str
    #: Initial priority in [1, 1000]; larger runs first.
    priority: int

    def run(self) -> object:
        """Run on a worker thread; return the result or raise."""

    def abort(self) -> None:
        """From any thread: make a running ``run()`` end promptly."""


RetryRule: TypeAlias = Callable[[Job, object, BaseException | None], "tuple[float, str] | None"]
"""``rule(job, result, error)``: ``(seconds, reason)`` to run ``job`` again after that
wait, or None when this outcome is final. Called outside the dispatcher's lock."""
