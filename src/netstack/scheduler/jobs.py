"""Jobs: how prepared jobs enter a scheduler; its documented internal interface.

``scheduler.jobs`` is what ``api.py``, the CLI, the Redis worker and tests
use to hand a *prepared* job (``netstack.call.prepare_call``) to a
Scheduler, to abort one, and to check hosts. Checks, in order: the priority
(401), the host rules (a host not allowed settles the job with 2300998
before any connection), then the :class:`JobSink` (the in-process
dispatcher, or a Redis queue) takes it: a job settled at prepare time (a
fresh cache hit, a malformed URL) resolves at once, the others are queued.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from netstack.deadline import ALARM
from netstack.errors import HOST_NOT_ALLOWED, TIMEOUT, HttpError
from netstack.validation import check_priority

if TYPE_CHECKING:
    import os
    import threading

    from netstack.breaker import CircuitBreaker
    from netstack.dispatch.errors import SchedulerShutdownError
    from netstack.hostguard import BreakerStore, HostGuard
    from netstack.hosts import HostRules
    from netstack.scheduler.future import RequestFuture
    from netstack.scheduler.job import Job
    from netstack.scheduler.stats import SchedulerStats

__all__ = ["JobQueue", "JobSink", "Jobs", "request_ids"]

#: Process-wide request ids, shared by every scheduler (they appear in logs).
request_ids = itertools.count(1)

DoneCallback = Callable[[Future[Any]], object]


class JobSink(Protocol):
    """Where a Scheduler hands its jobs: the in-process dispatcher or a Redis queue."""

    #: True once shut down.
    closed: bool

    @property
    def threads(self) -> list[threading.Thread]: ...
    def submit(
        self, job: Job, add_callback: DoneCallback | None, timeout: float | None
    ) -> RequestFuture[Any]: ...
    def submit_many(self, jobs: Sequence[Job]) -> list[RequestFuture[Any]]: ...
    def withdraw(self, future: RequestFuture[Any]) -> bool: ...
    def abort(
        self, future: RequestFuture[Any], error: BaseException | None, cancel_waiting: bool
    ) -> bool: ...
    def set_priority(self, future: RequestFuture[Any], priority: int) -> None: ...
    def cancel_tag(self, tag: str) -> int: ...
    def set_priority_tag(self, tag: str, priority: int) -> int: ...
    def stats(self) -> SchedulerStats: ...
    def phase(self, future: RequestFuture[Any]) -> str: ...
    def shutdown(
        self,
        wait: bool,
        cancel_pending: bool,
        persist: str | os.PathLike[str] | None,
        abort_running: bool = False,
    ) -> bool: ...
    def shutdown_at_exit(self, stop: bool) -> None: ...
    def shutdown_error(self) -> SchedulerShutdownError: ...
    def describe(self) -> str: ...


class JobQueue(Protocol):
    """A shared queue a Scheduler hands its jobs to (``RedisQueue`` is one):
    ``Scheduler(queue=...)`` calls :meth:`attach` once, with itself."""

    def attach(self, scheduler: Any) -> JobSink: ...

    def breaker_store(self, policy: CircuitBreaker) -> BreakerStore: ...


class Jobs:
    """``scheduler.jobs``: submit prepared jobs, abort or withdraw their futures."""

    __slots__ = ("_name", "_rules", "guard", "host_check", "sink")

    def __init__(
        self, name: str, rules: HostRules | None, sink: JobSink, guard: HostGuard | None = None
    ) -> None:
        self._name = name
        self._rules = rules
        #: What each request checks its redirect targets with (None: no rules).
        self.host_check: Callable[[str], bool] | None = None if rules is None else rules.allows
        #: The circuit breaker / adaptive limits around each attempt (None: neither).
        self.guard = guard
        #: Where the jobs go (documented internal: tests and the Redis adapter read it).
        self.sink = sink

    @property
    def closed(self) -> bool:
        """True once the scheduler was shut down."""
        return self.sink.closed

    @property
    def threads(self) -> list[threading.Thread]:
        """The worker threads started so far (none with a Redis queue)."""
        return self.sink.threads

    def shutdown_error(self) -> SchedulerShutdownError:
        """The error ``submit`` raises after shutdown."""
        return self.sink.shutdown_error()

    def submit(
        self, job: Job, *, add_callback: DoneCallback | None = None, timeout: float | None = None
    ) -> RequestFuture[Any]:
        """Queue a prepared job, or resolve its future now if the job is ``settled``.

        ``add_callback`` is attached as a done-callback before the future can
        resolve, so it runs exactly once even for a settled job. ``timeout``
        bounds the wait for room with ``on_full="block"``.
        """
        priority = job.priority
        if type(priority) is not int or not 1 <= priority <= 1000:
            check_priority(priority)  # raises the 401 naming the field
        if self._rules is not None:
            self._admit(job)
        if self.guard is not None:
            self.guard.submitted(job.host_key)
        future = self.sink.submit(job, add_callback, timeout)
        total_timeout = getattr(job, "total_timeout", 0)
        if total_timeout:
            self._arm(future, total_timeout)
        return future

    def submit_many(self, jobs: Sequence[Job]) -> list[RequestFuture[Any]]:
        """Queue prepared jobs all at once: every one is queued, or none (settled ones resolve)."""
        for job in jobs:
            check_priority(job.priority)
            self._admit(job)
            if self.guard is not None:
                self.guard.submitted(job.host_key)
        futures = self.sink.submit_many(jobs)
        for future, job in zip(futures, jobs, strict=True):
            total_timeout = getattr(job, "total_timeout", 0)
            if total_timeout:
                self._arm(future, total_timeout)
        return futures

    def withdraw(self, future: RequestFuture[Any]) -> bool:
        """``future.cancel()``: True if it was waiting and is now cancelled."""
        return self.sink.withdraw(future)

    def abort(
        self,
        future: RequestFuture[Any],
        *,
        error: BaseException | None = None,
        cancel_waiting: bool = True,
    ) -> bool:
        """End a request wherever it is; False if it had ended already.

        ``error`` (default HttpError 2300042) fails it; with ``cancel_waiting``
        (``HttpRequest.destroy()``) one that never ran is cancelled instead.
        A running one has its job aborted; its worker and host slot are freed
        when the run returns, and that run's outcome is dropped.
        """
        return self.sink.abort(future, error, cancel_waiting)

    def _arm(self, future: RequestFuture[Any], total_timeout: int) -> None:
        """Set the alarm that ends ``future`` with 2300028 ``total_timeout`` ms from now."""
        if not future.done():
            ALARM.at(time.monotonic() + total_timeout / 1000.0, future, self._expire)

    def _expire(self, future: RequestFuture[Any]) -> None:
        """On the alarm thread: the request's total_timeout passed, wherever it is."""
        if future.done():
            return
        ms = getattr(future.job, "total_timeout", 0)
        where = self.sink.phase(future)
        error = HttpError.of(TIMEOUT, f"total_timeout of {ms} ms passed while {where}")
        self.abort(future, error=error, cancel_waiting=False)

    def _admit(self, job: Job) -> None:
        """Settle ``job`` with 2300998 when its host is not allowed (before any connection)."""
        rules = self._rules
        if rules is not None and job.host_key and not rules.allows(job.host_key):
            job.settled, job.settled_result, job.from_cache = True, None, False
            job.settled_error = HttpError.of(
                HOST_NOT_ALLOWED, f"{job.host_key}: not allowed by scheduler {self._name!r}"
            )

    def __repr__(self) -> str:
        return f"<Jobs of {self._name!r}: {self.sink.describe()}>"
