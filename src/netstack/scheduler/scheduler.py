"""Scheduler: the policy of when requests run (OkHttp's Dispatcher, for netstack).

Requests wait in a :class:`~netstack.scheduler.queue.HostQueue` (priority,
then submission order, at most ``max_per_host`` in flight per host) and run on
the :class:`~netstack.scheduler.pool.WorkerPool`'s threads; see ``pool.py``
for the locking and counting rules this module follows too.
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netstack.errors import ABORTED, UNKNOWN, HttpError
from netstack.log import enabled, log_event
from netstack.scheduler.future import ABORTED as PHASE_ABORTED
from netstack.scheduler.future import (
    DISPATCHED,
    DONE,
    RUNNING,
    WAITING,
    RequestFuture,
    cancel_withdrawn,
)
from netstack.scheduler.pool import WorkerPool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

    from typing_extensions import Self

    from netstack.cache import HttpResponseCache
    from netstack.call import Events
    from netstack.options import OptionsInput
    from netstack.scheduler.job import Job
    from netstack.scheduler.queue import Entry
    from netstack.transport import Transport

__all__ = ["QueueFullError", "Scheduler", "SchedulerShutdownError", "SchedulerStats"]

_DEBUG = logging.DEBUG
_INFO = logging.INFO

_TRANSPORT_LOCK = threading.Lock()

#: Process-wide request ids, shared by every scheduler (they appear in logs).
_request_ids = itertools.count(1)


class SchedulerShutdownError(HttpError, RuntimeError):
    """2300999: the scheduler was shut down and accepts no more requests."""


class QueueFullError(HttpError):
    """2300999: ``max_queue`` requests are already waiting; try again later."""


@dataclass(frozen=True, kw_only=True)
class SchedulerStats:
    """A snapshot of a scheduler's counters.

    ``queued`` are waiting, ``running`` hold a worker. Every request ends as
    exactly one of ``completed`` (cache hits included), ``failed`` or
    ``cancelled``, so once all have ended their sum equals ``submitted``.
    """

    submitted: int
    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    cache_hits: int


def check_priority(priority: object) -> int:
    """Return ``priority`` if it is an int in [1, 1000], else raise HttpError 401."""
    if isinstance(priority, int) and not isinstance(priority, bool) and 1 <= priority <= 1000:
        return priority
    raise HttpError.parameter(f"priority: must be an int in [1, 1000], got {priority!r}")


class Scheduler(WorkerPool):
    """Runs requests on a pool of worker threads, by priority, with a per-host limit.

    ``cache=None`` uses the response cache installed process-wide (if any) at
    request time. ``max_queue`` caps the requests waiting: beyond it,
    ``submit`` raises :class:`QueueFullError` (an HttpError 2300999, not a
    401: the request is valid, the scheduler is momentarily full). After
    ``shutdown()``, ``submit`` raises :class:`SchedulerShutdownError`
    (HttpError 2300999, also a RuntimeError). Use it as a context manager, or
    call ``shutdown()``: workers are daemon threads, and at interpreter exit
    every live scheduler is shut down with ``wait=True`` (queued work runs).
    """

    def __init__(
        self,
        max_workers: int = 32,
        max_per_host: int = 8,
        cache: HttpResponseCache | None = None,
        max_queue: int | None = None,
        name: str = "netstack",
    ) -> None:
        _check_count("max_workers", max_workers)
        _check_count("max_per_host", max_per_host)
        if max_queue is not None:
            _check_count("max_queue", max_queue)
        if not isinstance(name, str):
            raise HttpError.parameter(f"name: must be a str, got {name!r}")
        super().__init__(max_workers, max_per_host, name)
        self._cache = cache
        self._max_queue = max_queue
        self._transport: Transport | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_workers(self) -> int:
        return self._max_workers

    @property
    def max_per_host(self) -> int:
        return self._queue.max_per_host

    @property
    def cache(self) -> HttpResponseCache | None:
        """The cache given at construction (None: the installed one, at request time)."""
        return self._cache

    @property
    def transport(self) -> Transport:
        """The Transport of this scheduler's requests, created on first use.

        Its connection pools are sized to ``max_per_host`` (see DESIGN §6).
        """
        transport = self._transport
        if transport is None:
            with _TRANSPORT_LOCK:
                transport = self._transport
                if transport is None:
                    from netstack.transport import Transport

                    transport = self._transport = Transport(max_per_host=self.max_per_host)
        return transport

    # -- submitting ------------------------------------------------------------

    def submit(
        self, url: str, options: OptionsInput = None, *, events: Events = None
    ) -> RequestFuture:
        """Queue a request; its future resolves to an HttpResponse or raises HttpError.

        ``events`` maps event names (``"headersReceive"``, ``"dataSendProgress"``)
        to callbacks. Bad input raises HttpError 401 here, before anything is queued.
        """
        if self._shutdown:
            raise self._shutdown_error()
        from netstack.call import prepare_call

        job = prepare_call(
            url, options, events=events, cache=self._cache, transport=self.transport, stream=False
        )
        return self._submit_job(job)

    def submit_batch(self, items: Iterable[str | tuple[str, OptionsInput]]) -> list[RequestFuture]:
        """Submit many requests: each item is a url or a ``(url, options)`` pair.

        Every item is validated first, so a 401 leaves nothing queued.
        """
        if self._shutdown:
            raise self._shutdown_error()
        from netstack.call import prepare_call

        transport = self.transport
        jobs = []
        for item in items:
            url, options = item if isinstance(item, tuple) else (item, None)
            jobs.append(
                prepare_call(
                    url, options, events=None, cache=self._cache, transport=transport, stream=False
                )
            )
        return self._submit_jobs(jobs)

    def _submit_jobs(self, jobs: Sequence[Job]) -> list[RequestFuture]:
        """Queue prepared jobs all at once: either every one is queued, or none.

        Settled jobs are resolved after the others are queued.
        """
        futures = [
            RequestFuture(self, job, next(_request_ids), check_priority(job.priority))
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
            for future, job in queued:
                future._entry = queue.push(future, job.host_key, future._priority)
                stranded += self._wake_or_spawn()
            self._submitted += len(queued)
        if stranded:
            self._fail_stranded(stranded)
        debug = enabled(_DEBUG)
        for future, job in zip(futures, jobs, strict=True):
            if job.settled:
                self._settle(future, job)
            elif debug:
                log_event(
                    _DEBUG,
                    "queued",
                    request_id=future.request_id,
                    url=job.url,
                    priority=future._priority,
                )
        return futures

    def _submit_job(
        self, job: Job, *, add_callback: Callable[[Future[Any]], object] | None = None
    ) -> RequestFuture:
        """Queue a prepared job, or resolve its future now if the job is ``settled``.

        ``add_callback`` is attached as a done-callback before the future can
        resolve, so it runs exactly once even for a settled job.
        """
        priority = check_priority(job.priority)
        future = RequestFuture(self, job, next(_request_ids), priority)
        if add_callback is not None:
            future._done_callbacks.append(add_callback)  # not yet visible to anyone
        if job.settled:
            return self._settle(future, job)
        stranded: list[Entry[RequestFuture]] = []
        with self._lock:
            if self._shutdown:
                raise self._shutdown_error()
            queue = self._queue
            if self._max_queue is not None and len(queue) >= self._max_queue:
                raise QueueFullError(
                    UNKNOWN, None, f"max_queue: the queue is full ({len(queue)} waiting)"
                )
            future._entry = queue.push(future, job.host_key, priority)
            self._submitted += 1
            stranded = self._wake_or_spawn()
        if stranded:
            self._fail_stranded(stranded)
        if enabled(_DEBUG):
            log_event(
                _DEBUG, "queued", request_id=future.request_id, url=job.url, priority=priority
            )
        return future

    def _settle(self, future: RequestFuture, job: Job) -> RequestFuture:
        error = job.settled_error
        with self._lock:
            if self._shutdown:
                raise self._shutdown_error()
            self._submitted += 1
            if error is None:
                self._completed += 1
                if job.from_cache:
                    self._cache_hits += 1
            else:
                self._failed += 1
            future._phase = DONE
            future._job = None
        if error is None:
            future.set_result(job.settled_result)
            if job.from_cache and enabled(_DEBUG):
                log_event(
                    _DEBUG,
                    "cache_hit",
                    request_id=future.request_id,
                    url=job.url,
                    priority=future.priority,
                )
        else:
            future.set_exception(error)
            self._log_failed(future, job, error)
        return future

    # -- changing queued requests ----------------------------------------------

    def set_priority(self, future: RequestFuture, priority: int) -> None:
        """Re-queue a waiting request at ``priority`` (1..1000), keeping its submission order.

        No effect once it started or ended. Raises HttpError 401 for a value
        out of range or a future of another scheduler.
        """
        check_priority(priority)
        if not isinstance(future, RequestFuture) or future._scheduler is not self:
            raise HttpError.parameter("future: not a request of this scheduler")
        with self._lock:
            if future._phase == WAITING and future._entry is not None:
                self._queue.set_priority(future._entry, priority)
                future._priority = priority

    def _withdraw(self, future: RequestFuture) -> bool:
        """Take a waiting request out of the queue; True if the caller must cancel it."""
        with self._lock:
            if future._phase != WAITING or future._entry is None:
                return False
            self._queue.remove(future._entry)
            self._forget(future)
            self._cancelled += 1
            return True

    def _abort(self, future: RequestFuture) -> None:
        """Interrupt a request (``HttpRequest.destroy()``).

        Waiting: cancelled. Running: ``job.abort()`` and the future fails now
        with HttpError 2300042; the worker and the host slot are freed when
        ``run()`` returns, and its outcome is dropped. Ended: nothing.
        """
        job = None
        with self._lock:
            phase = future._phase
            if phase == WAITING and future._entry is not None:
                self._queue.remove(future._entry)
                self._forget(future)
                self._cancelled += 1
            elif phase == DISPATCHED:
                future._phase = PHASE_ABORTED  # the worker counts it, cancelled or failed
            elif phase == RUNNING:
                future._phase = PHASE_ABORTED
                self._failed += 1
                job = future._job
            else:
                return
        if phase == WAITING:
            cancel_withdrawn(future)
            return
        if phase == DISPATCHED and Future.cancel(future):
            return  # it never started
        if job is not None:
            try:
                job.abort()
            except Exception as exc:  # abort() must not keep the future pending
                log_event(_INFO, "abort_failed", request_id=future.request_id, error=repr(exc))
        error = HttpError.of(ABORTED)
        try:
            future.set_exception(error)
        except InvalidStateError:
            return
        if job is not None:
            self._log_failed(future, job, error)

    # -- state -----------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return SchedulerStats(
                submitted=self._submitted,
                queued=len(self._queue),
                running=self._running,
                completed=self._completed,
                failed=self._failed,
                cancelled=self._cancelled,
                cache_hits=self._cache_hits,
            )

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop accepting requests. Idempotent.

        With ``cancel_pending``, every waiting request is cancelled; otherwise
        queued requests still run. ``wait`` joins the workers (so, without
        ``cancel_pending``, waits for the queue to empty), then closes the
        transport's connection pools.
        """
        with self._lock:
            self._shutdown = True
            drained: list[Entry[RequestFuture]] = self._queue.drain() if cancel_pending else []
            for entry in drained:
                self._forget(entry.item)
            self._cancelled += len(drained)
            self._idle = 0
            self._wakeup.notify_all()
            threads = list(self._threads)
        for entry in drained:
            cancel_withdrawn(entry.item)
        if not wait:
            return
        me = threading.current_thread()
        for thread in threads:
            if thread is not me:
                thread.join()
        transport = self._transport
        if transport is not None and me not in threads:
            transport.close()  # nothing runs any more

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        with self._lock:
            queue = self._queue
            state = " shut down" if self._shutdown else ""
            return (
                f"<Scheduler {self._name!r}{state} [Requests: {self._running} running, "
                f"{len(queue)} queued | Hosts: {queue.ready_hosts} ready, "
                f"{queue.saturated_hosts} saturated]>"
            )

    # -- helpers ---------------------------------------------------------------

    def _shutdown_error(self) -> SchedulerShutdownError:
        return SchedulerShutdownError(
            UNKNOWN, None, f"scheduler {self._name!r} is shut down: it accepts no requests"
        )


def _check_count(field: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise HttpError.parameter(f"{field}: must be an int >= 1, got {value!r}")
