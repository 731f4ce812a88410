"""Admission: how a prepared job enters the queue, or is settled without it.

Checks, in order: the priority (401), the domain rules (a host not allowed
settles the job with 2300998 before any connection), a job settled at
prepare time (a fresh cache hit, a malformed URL) resolves now; otherwise
``max_queue`` (``on_full="raise"``: :class:`QueueFullError`; ``"block"``:
wait for room, up to a timeout), then the push at the request's priority
(its rank aged when ``aging`` is on), its tag, and a worker woken.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from netstack.errors import HOST_NOT_ALLOWED, UNKNOWN, HttpError
from netstack.log import enabled
from netstack.scheduler.future import RequestFuture, log_request
from netstack.scheduler.tags import COMPLETED, FAILED
from netstack.scheduler.withdraw import Withdrawals
from netstack.validation import check_priority

if TYPE_CHECKING:
    from collections.abc import Callable

    from netstack.hosts import HostRules
    from netstack.scheduler.job import Job
    from netstack.scheduler.queue import Entry

__all__ = ["Admission", "QueueFullError", "SchedulerShutdownError"]

_DEBUG = logging.DEBUG

#: Process-wide request ids, shared by every scheduler (they appear in logs).
_request_ids = itertools.count(1)


class SchedulerShutdownError(HttpError, RuntimeError):
    """2300999: the scheduler was shut down and accepts no more requests."""


class QueueFullError(HttpError):
    """2300999: ``max_queue`` requests are already waiting; try again later."""


class Admission(Withdrawals):
    """Submission internals of :class:`Scheduler` (which sets the attributes below)."""

    _rules: HostRules | None
    _max_queue: int | None
    _block_when_full: bool

    def _submit_jobs(self, jobs: Sequence[Job]) -> list[RequestFuture]:
        """Queue prepared jobs all at once: either every one is queued, or none.

        Settled jobs are resolved after the others are queued.
        """
        for job in jobs:
            self._admit(job)
        futures = [
            RequestFuture(
                self,  # type: ignore[arg-type]  # a Scheduler: the only subclass
                job,
                next(_request_ids),
                check_priority(job.priority),
                _tag(job),
            )
            for job in jobs
        ]
        queued = [(f, j) for f, j in zip(futures, jobs, strict=True) if not j.settled]
        stranded: list[Entry[RequestFuture]] = []
        with self._lock:
            if self._shutdown:
                raise self._shutdown_error()
            queue = self._queue
            if self._max_queue is not None and len(queue) + len(queued) > self._max_queue:
                raise QueueFullError(
                    UNKNOWN,
                    None,
                    f"max_queue: the queue is full ({len(queue)} waiting, "
                    f"{len(queued)} more submitted)",
                )
            base = self._base()
            for future, job in queued:
                if self._pacer is not None:
                    self._pace_push(job.host_key)
                future._entry = queue.push(future, job.host_key, future._priority, base)
                if future._tag is not None:
                    self._tags.add(future._tag, future)
                stranded += self._wake_or_spawn()
            self._submitted += len(queued)
        if stranded:
            self._fail_stranded(stranded)
        for future, job in zip(futures, jobs, strict=True):
            if job.settled:
                self._settle(future, job)
            else:
                log_request(_DEBUG, "queued", future, job)
        return futures

    def _submit_job(
        self,
        job: Job,
        *,
        add_callback: Callable[[Future[Any]], object] | None = None,
        timeout: float | None = None,
    ) -> RequestFuture:
        """Queue a prepared job, or resolve its future now if the job is ``settled``.

        ``add_callback`` is attached as a done-callback before the future can
        resolve, so it runs exactly once even for a settled job.
        """
        priority = job.priority
        if type(priority) is not int or not 1 <= priority <= 1000:
            check_priority(priority)  # raises the 401 naming the field
        if self._rules is not None:
            self._admit(job)
        tag = getattr(job, "tag", None)
        future = RequestFuture(
            self,  # type: ignore[arg-type]  # a Scheduler: the only subclass
            job,
            next(_request_ids),
            priority,
            tag,
        )
        if add_callback is not None:
            future._done_callbacks.append(add_callback)  # not yet visible to anyone
        if job.settled:
            return self._settle(future, job)
        stranded: list[Entry[RequestFuture]] = []
        aging = self._aging
        with self._lock:
            if self._shutdown:
                raise self._shutdown_error()
            queue = self._queue
            if self._max_queue is not None and len(queue) >= self._max_queue:
                self._wait_for_room(timeout)
            if self._pacer is not None:
                self._pace_push(job.host_key)
            base = 0 if aging is None else aging.base(time.monotonic())
            future._entry = queue.push(future, job.host_key, priority, base)
            self._submitted += 1
            self._cache_misses += job.cache_miss
            if tag is not None:
                self._tags.add(tag, future)
            stranded = self._wake_or_spawn()
        if stranded:
            self._fail_stranded(stranded)
        if enabled(_DEBUG):  # checked here: the per-request path skips the helper's call
            log_request(_DEBUG, "queued", future, job)
        return future

    def _admit(self, job: Job) -> None:
        """Settle ``job`` with 2300998 when its host is not allowed (before any connection)."""
        rules = self._rules
        if rules is not None and job.host_key and not rules.allows(job.host_key):
            job.settled, job.settled_result, job.from_cache = True, None, False
            job.settled_error = HttpError.of(
                HOST_NOT_ALLOWED, f"{job.host_key}: not allowed by scheduler {self._name!r}"
            )

    def _wait_for_room(self, timeout: float | None) -> None:
        """Under the lock, the queue full: raise, or wait for room (``on_full="block"``)."""
        max_queue = self._max_queue
        assert max_queue is not None
        if not self._block_when_full:
            raise QueueFullError(
                UNKNOWN, None, f"max_queue: the queue is full ({len(self._queue)} waiting)"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        self._full_waiters += 1
        try:
            while len(self._queue) >= max_queue:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFullError(
                        UNKNOWN,
                        None,
                        f"max_queue: no room within {timeout}s ({len(self._queue)} waiting)",
                    )
                self._not_full.wait(remaining)
                if self._shutdown:
                    raise self._shutdown_error()
        finally:
            self._full_waiters -= 1

    def _settle(self, future: RequestFuture, job: Job) -> RequestFuture:
        error = job.settled_error
        with self._lock:
            if self._shutdown:
                raise self._shutdown_error()
            self._submitted += 1
            if future._tag is not None:
                self._tags.add(future._tag, future)
            if error is None and job.from_cache:
                self._cache_hits += 1
            self._end(future, COMPLETED if error is None else FAILED)
        if error is None:
            future.set_result(job.settled_result)
            if job.from_cache:
                log_request(_DEBUG, "cache_hit", future, job)
        else:
            future.set_exception(error)
            self._log_failed(future, job, error)
        return future

    def _shutdown_error(self) -> SchedulerShutdownError:
        return SchedulerShutdownError(
            UNKNOWN, None, f"scheduler {self._name!r} is shut down: it accepts no requests"
        )


def _tag(job: Job) -> str | None:
    """The job's tag (jobs that are not calls may have none)."""
    return getattr(job, "tag", None)
