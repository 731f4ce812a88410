"""Scheduler: the policy of when requests run (OkHttp's Dispatcher, for netstack).

Requests wait in a :class:`~netstack.scheduler.queue.HostQueue` (priority,
then submission order, at most ``max_per_host`` in flight per host) and run on
the :class:`~netstack.scheduler.pool.WorkerPool`'s threads; see ``pool.py``
for the locking and counting rules this module follows too. The policies for
crawlers and batch jobs each live in their own module: ``retry.py``,
``politeness.py``, ``rules.py`` (allowed and blocked hosts), ``tags.py``,
``aging.py``, ``persist.py`` (resumable queues); none costs anything per
request unless configured. The class is layered: ``WorkerPool`` (pool.py:
workers, dispatch, retries and pacing via the ``Ticker``) <- ``Withdrawals``
(withdraw.py: cancel, abort, drain, persist) <- ``Admission`` (admission.py:
rules, backpressure, push) <- ``Scheduler`` (this module: the public API).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from netstack.breaker import BreakerState, CircuitBreaker
from netstack.call import prepare_call as _prepare_call
from netstack.deadline import ALARM
from netstack.errors import TIMEOUT, HttpError
from netstack.hostguard import HostGuard
from netstack.hosts import HostRules
from netstack.politeness import PolitenessPolicy
from netstack.retry import RetryPolicy
from netstack.scheduler.admission import (
    Admission,
    QueueFullError,
    SchedulerShutdownError,
)
from netstack.scheduler.aging import Aging
from netstack.scheduler.future import (
    BACKOFF,
    WAITING,
    RequestFuture,
)
from netstack.scheduler.politeness import Pacer
from netstack.scheduler.tags import TagStats
from netstack.tags import check_tag
from netstack.validation import check_priority

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from concurrent.futures import Future
    from types import TracebackType

    from typing_extensions import Self

    from netstack.cache import HttpResponseCache
    from netstack.call import Events
    from netstack.distributed.producer import Producer
    from netstack.distributed.redis_queue import RedisQueue
    from netstack.options import OptionsInput
    from netstack.scheduler.job import Job
    from netstack.transport import Transport

__all__ = ["QueueFullError", "Scheduler", "SchedulerShutdownError", "SchedulerStats"]

_DEBUG = logging.DEBUG
_INFO = logging.INFO
_ON_FULL: Final = ("raise", "block")

_TRANSPORT_LOCK = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class SchedulerStats:
    """A snapshot of a scheduler's counters.

    ``queued`` are waiting, ``running`` hold a worker, ``retrying`` wait out
    a retry backoff (they hold nothing). Every request ends as exactly one of
    ``completed`` (cache hits included), ``failed`` or ``cancelled``, so once
    all have ended their sum equals ``submitted``. ``tags`` has the same
    counts for each tag (``queued`` there includes ``retrying``).
    """

    submitted: int
    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int
    cache_hits: int
    retrying: int = 0
    #: Requests that consulted a response cache and went to the network
    #: (a miss, or a stale entry revalidated).
    cache_misses: int = 0
    tags: Mapping[str, TagStats] = field(default_factory=dict)
    #: With ``breaker``: each host whose circuit is open, half-open, or counting failures.
    breakers: Mapping[str, BreakerState] = field(default_factory=dict)


class Scheduler(Admission):
    """Runs requests on a pool of worker threads, by priority, with a per-host limit.

    ``cache=None`` uses the response cache installed process-wide (if any) at
    request time. ``max_queue`` caps the requests waiting; beyond it,
    ``on_full="raise"`` (the default) makes ``submit`` raise
    :class:`QueueFullError` (an HttpError 2300999, not a 401: the request is
    valid, the scheduler is momentarily full) and ``on_full="block"`` makes it
    wait for room (up to its ``timeout``, then QueueFullError). After
    ``shutdown()``, ``submit`` raises :class:`SchedulerShutdownError`
    (HttpError 2300999, also a RuntimeError). Use it as a context manager, or
    call ``shutdown()``: workers are daemon threads, and at interpreter exit
    every live scheduler is shut down with ``wait=True`` (queued work runs,
    as with ``ThreadPoolExecutor``), unless the program ends because of an
    unhandled exception (Ctrl-C included) or Ctrl-C comes during that wait:
    then queued requests are cancelled and running ones aborted, so the
    program stops within a second or two.

    Keyword-only policies, all off by default: ``retry`` (a
    :class:`RetryPolicy` for every request; the option ``retry`` overrides
    it), ``politeness`` (a :class:`PolitenessPolicy`), ``allowed_hosts`` /
    ``blocked_hosts`` (exact or ``*.suffix`` patterns; any other host ends
    with HttpError 2300998 before a connection is made, redirects included),
    ``aging`` (seconds of waiting worth one priority step; see ``aging.py``),
    ``breaker`` (a :class:`CircuitBreaker`: a host that keeps failing gets
    requests failed at once, without a connection, until a trial succeeds;
    its state shows in ``stats().breakers``).

    ``queue=RedisQueue(url, name)`` makes this scheduler a producer for
    ``netstack worker`` processes: requests are validated (and answered by a
    fresh hit of this scheduler's cache) here, then run on the workers, with
    their ``--workers`` and ``--per-host``; see ``netstack.distributed``.
    """

    def __init__(
        self,
        max_workers: int = 32,
        max_per_host: int = 8,
        cache: HttpResponseCache | None = None,
        max_queue: int | None = None,
        name: str = "netstack",
        *,
        on_full: Literal["raise", "block"] = "raise",
        retry: RetryPolicy | None = None,
        politeness: PolitenessPolicy | None = None,
        allowed_hosts: Iterable[str] | None = None,
        blocked_hosts: Iterable[str] | None = None,
        aging: float | None = None,
        queue: RedisQueue | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        _check_count("max_workers", max_workers)
        _check_count("max_per_host", max_per_host)
        if max_queue is not None:
            _check_count("max_queue", max_queue)
        if not isinstance(name, str):
            raise HttpError.parameter(f"name: must be a str, got {name!r}")
        if on_full not in _ON_FULL:
            raise HttpError.parameter(f"on_full: must be 'raise' or 'block', got {on_full!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise HttpError.parameter(f"retry: must be a RetryPolicy or None, got {retry!r}")
        if politeness is not None and not isinstance(politeness, PolitenessPolicy):
            raise HttpError.parameter(
                f"politeness: must be a PolitenessPolicy or None, got {politeness!r}"
            )
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise HttpError.parameter(f"breaker: must be a CircuitBreaker or None, got {breaker!r}")
        if breaker is not None and queue is not None:
            raise HttpError.parameter(
                "breaker: not available with queue=RedisQueue yet (the workers run the requests)"
            )
        rules = HostRules.build(allowed_hosts, blocked_hosts)
        aging_policy = None if aging is None else Aging(aging, time.monotonic())
        super().__init__(max_workers, max_per_host, name)
        self._cache = cache
        self._max_queue = max_queue
        self._block_when_full = on_full == "block"
        self._transport: Transport | None = None
        self._rules = rules
        #: What each request checks its redirect targets with (None: no rules).
        self._host_check = None if rules is None else rules.allows
        self._retry = retry
        self._pacer = Pacer(politeness) if politeness is not None and politeness.limits else None
        self._politeness = politeness
        self._aging = aging_policy
        #: The circuit breaker around each attempt (None: none, and no cost).
        self._guard = None if breaker is None else HostGuard(breaker, None, max_per_host)
        #: With ``queue=RedisQueue(...)``: requests go to Redis (see netstack.distributed).
        self._remote: Producer | None = None if queue is None else queue._attach(self)

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
    def retry(self) -> RetryPolicy | None:
        """The retry policy of requests without a ``retry`` option."""
        return self._retry

    @property
    def politeness(self) -> PolitenessPolicy | None:
        return self._politeness

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

    def host_allowed(self, host: str) -> bool:
        """Whether requests and redirects may go to ``host`` (allowed_hosts, blocked_hosts)."""
        return self._rules is None or self._rules.allows(host)

    # -- submitting ------------------------------------------------------------

    def submit(
        self,
        url: str,
        options: OptionsInput = None,
        *,
        events: Events = None,
        timeout: float | None = None,
    ) -> RequestFuture:
        """Queue a request; its future resolves to an HttpResponse or raises HttpError.

        ``events`` maps event names (``"headersReceive"``, ``"dataSendProgress"``)
        to callbacks. Bad input raises HttpError 401 here, before anything is
        queued. ``timeout`` bounds the wait for room with ``on_full="block"``.
        """
        if self._shutdown:
            raise self._shutdown_error()
        return self._submit_job(self._prepare(url, options, events), timeout=timeout)

    def submit_batch(
        self, items: Iterable[str | tuple[str, OptionsInput]], *, timeout: float | None = None
    ) -> list[RequestFuture]:
        """Submit many requests: each item is a url or a ``(url, options)`` pair.

        A list or tuple is validated first, so a 401 leaves nothing queued;
        with ``on_full="raise"`` it is queued all at once or not at all, with
        ``"block"`` item by item as room appears (``timeout`` bounds each wait).
        Any other iterable (a generator) is consumed lazily, one item at a
        time, and never held in memory: a 401 or a full queue stops it there,
        the items before stay queued.
        """
        if self._shutdown:
            raise self._shutdown_error()
        if isinstance(items, Sequence) and not isinstance(items, str):
            jobs = [self._prepare(*_split(item)) for item in items]
            if self._block_when_full and self._max_queue is not None:
                return [self._submit_job(job, timeout=timeout) for job in jobs]
            return self._submit_jobs(jobs)
        return [self._submit_job(self._prepare(*_split(item)), timeout=timeout) for item in items]

    def resume(self, path: str | os.PathLike[str]) -> list[RequestFuture]:
        """Submit the requests ``shutdown(persist=path)`` wrote, in their order.

        They keep their priority and tag (listeners are not persisted). The
        file is left in place.
        """
        from netstack.scheduler.persist import read_queue

        return self.submit_batch(read_queue(path))

    def _prepare(self, url: str, options: OptionsInput, events: Events = None) -> Job:
        return _prepare_call(
            url,
            options,
            events=events,
            cache=self._cache,
            transport=self._transport or self.transport,
            stream=False,
            host_allowed=self._host_check,
            guard=self._guard,
        )

    # With a RedisQueue, prepared jobs go to Redis instead of the local queue.

    def _submit_job(
        self,
        job: Job,
        *,
        add_callback: Callable[[Future[Any]], object] | None = None,
        timeout: float | None = None,
    ) -> RequestFuture:
        if self._remote is not None:
            return self._remote.submit_job(job, add_callback)
        future = super()._submit_job(job, add_callback=add_callback, timeout=timeout)
        total_timeout = getattr(job, "total_timeout", 0)
        if total_timeout:
            self._arm(future, total_timeout)
        return future

    def _submit_jobs(self, jobs: Sequence[Job]) -> list[RequestFuture]:
        if self._remote is not None:
            return self._remote.submit_jobs(jobs)
        futures = super()._submit_jobs(jobs)
        for future, job in zip(futures, jobs, strict=True):
            total_timeout = getattr(job, "total_timeout", 0)
            if total_timeout:
                self._arm(future, total_timeout)
        return futures

    def _abort(
        self,
        future: RequestFuture,
        *,
        cancel_waiting: bool = True,
        error: BaseException | None = None,
    ) -> bool:
        if self._remote is not None:
            done = future.done()
            self._remote.abort(future)
            return not done and future.done()
        return super()._abort(future, cancel_waiting=cancel_waiting, error=error)

    def _arm(self, future: RequestFuture, total_timeout: int) -> None:
        """Set the alarm that ends ``future`` with 2300028 ``total_timeout`` ms from now."""
        if not future.done():
            ALARM.at(time.monotonic() + total_timeout / 1000.0, future, self._expire)

    def _expire(self, future: RequestFuture) -> None:
        """On the alarm thread: the request's total_timeout passed, wherever it is."""
        if future.done():
            return
        job = future._job
        ms = getattr(job, "total_timeout", 0)
        if future in self._between:
            where = "waiting to retry"
        else:
            where = "queued" if future._phase == WAITING else "running"
        error = HttpError.of(TIMEOUT, f"total_timeout of {ms} ms passed while {where}")
        self._abort(future, cancel_waiting=False, error=error)

    # -- changing queued requests ----------------------------------------------

    def set_priority(self, future: RequestFuture, priority: int) -> None:
        """Re-queue a waiting request at ``priority`` (1..1000), keeping its submission order.

        A request waiting out a retry backoff re-enters at ``priority``. No
        effect once it runs or ended. Raises HttpError 401 for a value out of
        range or a future of another scheduler.
        """
        check_priority(priority)
        if not isinstance(future, RequestFuture) or future._scheduler is not self:
            raise HttpError.parameter("future: not a request of this scheduler")
        if self._remote is not None:
            self._remote.set_priority(future, priority)
            return
        with self._lock:
            self._reprioritise(future, priority)

    def cancel_all(self, tag: str) -> int:
        """Stop every request tagged ``tag`` that is not running; returns how many.

        Waiting ones are cancelled; one between two attempts ends with its
        last attempt's outcome (it has run). Running ones finish.
        """
        check_tag(tag)
        return self._cancel_tagged(tag)

    def set_priority_all(self, tag: str, priority: int) -> int:
        """``set_priority`` every waiting request tagged ``tag``; returns how many changed."""
        check_tag(tag)
        check_priority(priority)
        with self._lock:
            return sum(self._reprioritise(f, priority) for f in self._tags.members(tag))

    def _reprioritise(self, future: RequestFuture, priority: int) -> bool:
        """Under the lock."""
        if future._phase == WAITING and future._entry is not None:
            self._queue.set_priority(future._entry, priority)
        elif future._phase != BACKOFF:
            return False
        future._priority = priority
        return True

    # -- state -----------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        """A consistent snapshot of the counters."""
        if self._remote is not None:
            return self._remote.stats()
        with self._lock:
            return SchedulerStats(
                submitted=self._submitted,
                queued=len(self._queue),
                running=self._running,
                completed=self._completed,
                failed=self._failed,
                cancelled=self._cancelled,
                cache_hits=self._cache_hits,
                cache_misses=self._cache_misses,
                retrying=self._backing_off,
                tags=self._tags.snapshot() if self._tags else {},
                breakers=self._guard.breaker_states() if self._guard is not None else {},
            )

    def shutdown(
        self,
        wait: bool = True,
        *,
        cancel_pending: bool = False,
        abort_running: bool = False,
        persist: str | os.PathLike[str] | None = None,
    ) -> None:
        """Stop accepting requests. Idempotent.

        With ``cancel_pending``, every waiting request is cancelled (one
        between two attempts ends with its last outcome) and no retry starts;
        otherwise queued requests and retries still run. With ``persist``,
        the waiting requests are first written to that path (see
        ``persist.py``; :meth:`resume` submits them again), then end as with
        ``cancel_pending``; if the file cannot be written they stay queued
        and run, and the OSError propagates. ``abort_running`` implies
        ``cancel_pending`` and aborts the running requests too (they end
        with HttpError 2300042, as ``RequestFuture.abort()`` does), so that
        shutdown returns within about a second. ``wait`` joins the workers
        (so, without ``cancel_pending``, waits for the queue to empty), then
        closes the transport's connection pools.
        """
        stop = cancel_pending or abort_running or persist is not None
        with self._lock:
            self._shutdown = True
            taken = self._detach_all() if stop else []
            self._ticker.stop()
            records = self._records(taken) if persist is not None else None
            if records is None:
                self._end_detached(taken)
            self._idle = 0
            self._wakeup.notify_all()
            self._not_full.notify_all()
            threads = list(self._threads)
            running = self._running_futures() if abort_running else []
        if records is not None:
            assert persist is not None
            self._persist(persist, taken, records)
        self._finish_detached(taken)
        for future in running:
            self._abort(future, cancel_waiting=False)
        if self._remote is not None:
            self._remote.shutdown(wait, stop)
        if not wait:
            return
        me = threading.current_thread()
        for thread in threads:
            if thread is not me:
                thread.join()
        transport = self._transport
        if transport is not None and me not in threads:
            transport.close()  # nothing runs any more

    def _shutdown_at_exit(self, stop: bool) -> None:
        """Interpreter exit. With a Redis queue the requests live in Redis and run on
        the workers whatever this process does, so their outcomes are not awaited
        (a dead worker or Redis would hang the exit): the futures still waiting end
        with 2300042. Local queues finish their work, as ThreadPoolExecutor does,
        unless ``stop`` (the program ends with an unhandled exception, Ctrl-C
        included): then waiting requests are cancelled and running ones aborted."""
        remote = self._remote
        if remote is None:
            self.shutdown(wait=True, cancel_pending=stop, abort_running=stop)
            return
        self.shutdown(wait=False)
        remote.close()

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
            retrying = f", {self._backing_off} retrying" if self._backing_off else ""
            held = f", {queue.held_hosts} held" if queue.held_hosts else ""
            return (
                f"<Scheduler {self._name!r}{state} [Requests: {self._running} running, "
                f"{len(queue)} queued{retrying} | Hosts: {queue.ready_hosts} ready, "
                f"{queue.saturated_hosts} saturated{held}]>"
            )


def _split(item: str | tuple[str, OptionsInput]) -> tuple[str, OptionsInput]:
    return item if isinstance(item, tuple) else (item, None)


def _check_count(field: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise HttpError.parameter(f"{field}: must be an int >= 1, got {value!r}")
