"""LocalSink: a Scheduler's jobs run in this process, on a dispatcher and its worker pool.

Composes ``netstack.dispatch``: a :class:`~netstack.dispatch.local.LocalQueue`
(order, per-host slots, pacing, delayed retries, aging), the
:class:`~netstack.dispatch.state.Dispatcher` deciding over it and the
:class:`~netstack.dispatch.pool.WorkerPool` applying its decisions. What
is HTTP stays here: the retry rule (the request's ``RetryPolicy``), cache
hit and miss counts, and ``shutdown(persist=...)`` (which writes requests'
options).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from netstack.dispatch.local import LocalQueue
from netstack.dispatch.pool import WorkerPool, log_ticket
from netstack.dispatch.state import Dispatcher
from netstack.dispatch.ticket import finish_unseen
from netstack.errors import ABORTED, HttpError
from netstack.log import enabled, log_event
from netstack.scheduler.future import RequestFuture
from netstack.scheduler.jobs import DoneCallback, request_ids
from netstack.scheduler.stats import SchedulerStats

if TYPE_CHECKING:
    from netstack.dispatch.aging import Aging
    from netstack.dispatch.errors import SchedulerShutdownError
    from netstack.dispatch.job import Job as DispatchJob
    from netstack.dispatch.pacer import Pacer
    from netstack.retry import RetryPolicy
    from netstack.scheduler.job import Job
    from netstack.scheduler.owner import SinkOwner

__all__ = ["LocalSink", "retry_rule"]

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO
#: Retry jitter from a private generator: the application's ``random`` state is its own.
_jitter = random.Random()  # noqa: S311  (jitter, not cryptography)


def retry_rule(default: RetryPolicy | None) -> tuple[object, bool]:
    """The dispatcher's retry rule for requests, and whether every job needs it.

    A request's ``retry`` option wins over ``default``; only jobs that count
    their ``attempts`` are retried.
    """

    def rule(
        job: DispatchJob, result: object, error: BaseException | None
    ) -> tuple[float, str] | None:
        policy = getattr(job, "retry", None)
        if policy is None:
            policy = default
        if not policy or isinstance(policy, int):
            return None
        attempts = getattr(job, "attempts", None)
        if not isinstance(attempts, int):
            return None
        delay: tuple[float, str] | None = policy.next_delay(
            attempts,
            getattr(job, "method", "GET"),
            result,
            error,
            wall_now=time.time(),
            rand=_jitter.random(),
        )
        return delay

    return rule, default is not None


class LocalSink:
    """The in-process :class:`~netstack.scheduler.jobs.JobSink`."""

    def __init__(
        self,
        scheduler: SinkOwner,
        *,
        max_workers: int,
        max_per_host: int,
        max_queue: int | None,
        block_when_full: bool,
        retry: RetryPolicy | None,
        pacer: Pacer | None,
        aging: Aging | None,
    ) -> None:
        self._scheduler = scheduler
        rule, always = retry_rule(retry)
        self.pool = WorkerPool(
            Dispatcher(LocalQueue(max_per_host, pacer=pacer, aging=aging), max_workers),
            name=scheduler.name,
            retry_rule=rule,  # type: ignore[arg-type]
            retry_all=always,
            max_queue=max_queue,
            block_when_full=block_when_full,
        )
        self._cache_hits = 0
        self._cache_misses = 0
        #: True once shut down (an attribute: read on every submit; every shutdown path,
        #: the exit hook's included, goes through :meth:`shutdown`).
        self.closed = False

    @property
    def threads(self) -> list[threading.Thread]:
        return self.pool.threads

    def shutdown_error(self) -> SchedulerShutdownError:
        return self.pool.shutdown_error()

    # -- submitting --------------------------------------------------------------

    def submit(
        self, job: Job, add_callback: DoneCallback | None, timeout: float | None
    ) -> RequestFuture[Any]:
        future: RequestFuture[Any] = RequestFuture(
            self._scheduler, job, next(request_ids), job.priority, getattr(job, "tag", None)
        )
        if add_callback is not None:
            future._done_callbacks.append(add_callback)  # not yet visible to anyone
        if job.settled:
            return self._settle(future, job)
        self.pool.submit(future, timeout=timeout)
        if job.cache_miss:
            with self.pool.lock:
                self._cache_misses += 1
        if enabled(_DEBUG):  # checked here: the per-request path skips the helper's call
            log_ticket(_DEBUG, "queued", future, job)
        return future

    def submit_many(self, jobs: Sequence[Job]) -> list[RequestFuture[Any]]:
        scheduler = self._scheduler
        futures: list[RequestFuture[Any]] = [
            RequestFuture(
                scheduler, job, next(request_ids), job.priority, getattr(job, "tag", None)
            )
            for job in jobs
        ]
        queued = [f for f, j in zip(futures, jobs, strict=True) if not j.settled]
        self.pool.submit_many(queued)
        misses = sum(1 for j in jobs if not j.settled and j.cache_miss)
        if misses:
            with self.pool.lock:
                self._cache_misses += misses
        for future, job in zip(futures, jobs, strict=True):
            if job.settled:
                self._settle(future, job)
            else:
                log_ticket(_DEBUG, "queued", future, job)
        return futures

    def _settle(self, future: RequestFuture[Any], job: Job) -> RequestFuture[Any]:
        """A job that ended at prepare time: count it, then resolve it here."""
        error = job.settled_error
        pool = self.pool
        with pool.lock:
            if pool.state.closed:
                raise pool.shutdown_error()
            pool.state.settled(future, error is None)
            if error is None and job.from_cache:
                self._cache_hits += 1
        if error is None:
            finish_unseen(future, job.settled_result)  # nobody holds the future yet
            if job.from_cache and enabled(_DEBUG):
                log_ticket(_DEBUG, "cache_hit", future, job)
        else:
            future.set_exception(error)
            log_ticket(
                _INFO,
                "failed",
                future,
                job,
                attempts=getattr(job, "attempts", 1),
                error=repr(error),
            )
        return future

    # -- changing requests -----------------------------------------------------------

    def withdraw(self, future: RequestFuture[Any]) -> bool:
        return self.pool.withdraw(future)

    def abort(
        self, future: RequestFuture[Any], error: BaseException | None, cancel_waiting: bool
    ) -> bool:
        if future.done():
            return False
        return self.pool.abort(
            future, HttpError.of(ABORTED) if error is None else error, cancel_waiting=cancel_waiting
        )

    def set_priority(self, future: RequestFuture[Any], priority: int) -> None:
        self.pool.set_priority(future, priority)

    def cancel_tag(self, tag: str) -> int:
        return self.pool.cancel_tag(tag)

    def set_priority_tag(self, tag: str, priority: int) -> int:
        return self.pool.set_priority_tag(tag, priority)

    # -- state -------------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        pool = self.pool
        with pool.lock:
            s = pool.snapshot()
            hits, misses = self._cache_hits, self._cache_misses
        return SchedulerStats(
            submitted=s.submitted,
            queued=s.queued,
            running=s.running,
            completed=s.completed,
            failed=s.failed,
            cancelled=s.cancelled,
            cache_hits=hits,
            cache_misses=misses,
            retrying=s.retrying,
            tags=s.tags,
        )

    def describe(self) -> str:
        """``Requests: .. | Hosts: ..``, as the Scheduler's repr shows it."""
        pool = self.pool
        with pool.lock:
            state = pool.state
            b = state.backend.stats()
            running = state.running
        retrying = f", {b.delayed} retrying" if b.delayed else ""
        held = f", {b.held_hosts} held" if b.held_hosts else ""
        return (
            f"[Requests: {running} running, {b.queued} queued{retrying} | Hosts: "
            f"{b.ready_hosts} ready, {b.saturated_hosts} saturated{held}]"
        )

    # -- stopping ----------------------------------------------------------------------

    def phase(self, future: RequestFuture[Any]) -> str:
        return self.pool.phase(future)

    def shutdown(
        self,
        wait: bool,
        cancel_pending: bool,
        persist: str | os.PathLike[str] | None,
        abort_running: bool = False,
    ) -> bool:
        """Close; persist or cancel what waits; abort what runs; with ``wait``, join the workers.

        True when the workers were joined (never from one of them).
        """
        self.closed = True
        pool = self.pool
        if persist is not None:
            self._persist(persist)
        else:
            pool.close(cancel_pending or abort_running)
        if abort_running:
            pool.abort_running(HttpError.of(ABORTED))
        if not wait:
            return False
        return pool.join()

    def shutdown_at_exit(self, stop: bool) -> None:
        """Interpreter exit: queued requests still run, as with ThreadPoolExecutor;
        with ``stop`` (an unhandled exception, Ctrl-C) they are cancelled and aborted."""
        self.shutdown(True, stop, None, stop)

    def _persist(self, path: str | os.PathLike[str]) -> None:
        """Write what waits and never ran; it then ends cancelled. What ran before (it waits
        for a retry) is not written: it ends with its last outcome. Either, never both."""
        from netstack.scheduler.persist import record, write_queue

        pool = self.pool
        taken = pool.detach_all()
        records = []
        with pool.lock:
            state = pool.state
            for ticket in taken:
                job = ticket.job
                options = getattr(job, "options", None)
                if (
                    isinstance(ticket, RequestFuture)
                    and job is not None
                    and options is not None
                    and state.last_outcome(ticket) is None
                ):
                    records.append(record(job.url, options, ticket.priority, ticket.tag))
        try:
            written = write_queue(path, records)
        except BaseException:
            pool.put_back(taken)
            raise
        pool.end_detached(taken)
        log_event(
            _INFO,
            "queue_persisted",
            scheduler=self._scheduler.name,
            path=os.fspath(path),
            requests=written,
        )
