"""WorkerPool: the worker threads and the state they share with the Scheduler.

One lock guards the queue, the counters and each future's phase. Decisions
are taken under it; effects (resolving a future, which runs its
done-callbacks, calling ``job.run()``, logging) happen after it is released,
so a done-callback may call ``submit()``. Each request is counted once, as
completed, failed or cancelled, by whoever decides its outcome under the
lock, before its future is resolved: once a future is done, ``stats()``
includes it.

Workers are daemon threads, started one at a time as work arrives (up to
``max_workers``); they leave only after shutdown, once nothing they could run
is left. At interpreter exit, every live pool is shut down with ``wait=True``
(before the interpreter joins non-daemon threads), so queued work finishes;
unless an unhandled exception (Ctrl-C) ends the program: then what waits is
cancelled and what runs is aborted (see :func:`exiting_on_error`).

Delayed work never holds a worker. A :class:`~netstack.scheduler.ticker.Ticker`
(one thread, started on first use) hands back, when due, a request waiting
out its retry backoff (it re-enters the queue at its priority) and a host
held by politeness (it rejoins the ready hosts). Between two attempts a
request's future is already RUNNING (``Future`` cannot go back); its last
outcome is kept in ``_between`` so that whoever stops it early resolves it
with that outcome.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import threading
import time
import weakref
from concurrent.futures import InvalidStateError
from concurrent.futures._base import RUNNING as FUTURE_RUNNING
from typing import TYPE_CHECKING, Any

from netstack.errors import UNKNOWN, HttpError
from netstack.log import enabled
from netstack.scheduler.future import ABORTED as PHASE_ABORTED
from netstack.scheduler.future import (
    BACKOFF,
    DONE,
    RUNNING,
    WAITING,
    RequestFuture,
    log_request,
    resolve,
)
from netstack.scheduler.queue import HostQueue
from netstack.scheduler.tags import CANCELLED, COMPLETED, FAILED, TagIndex
from netstack.scheduler.ticker import Ticker

if TYPE_CHECKING:
    from netstack.retry import RetryPolicy
    from netstack.scheduler.aging import Aging
    from netstack.scheduler.job import Job
    from netstack.scheduler.politeness import Pacer
    from netstack.scheduler.queue import Entry

__all__ = ["Outcome", "WorkerPool"]

_DEBUG = logging.DEBUG
_INFO = logging.INFO
_monotonic = time.monotonic
#: Retry jitter from a private generator: the application's ``random`` state is its own.
_jitter = random.Random()  # noqa: S311  (jitter, not cryptography)

Outcome = tuple[object, BaseException | None]
"""An attempt's ``(result, error)``."""


class WorkerPool:
    """The threads that run queued requests; the base of :class:`Scheduler`."""

    def __init__(self, max_workers: int, max_per_host: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: HostQueue[RequestFuture] = HostQueue(max_per_host)
        self._threads: list[threading.Thread] = []
        #: What each worker last started (one store per request; read by abort_running).
        self._current: list[RequestFuture | None] = []
        self._idle = 0  # workers waiting for work and not yet notified
        self._shutdown = False
        self._start_error: RuntimeError | None = None
        self._submitted = 0
        self._running = 0
        self._completed = 0
        self._failed = 0
        self._cancelled = 0
        self._cache_hits = 0
        self._cache_misses = 0
        # Features (the Scheduler sets them): None / empty costs one test per request.
        self._retry: RetryPolicy | None = None
        self._pacer: Pacer | None = None
        self._aging: Aging | None = None
        self._tags: TagIndex[RequestFuture] = TagIndex()
        #: Retried requests between two attempts -> the last attempt's outcome.
        self._between: dict[RequestFuture, Outcome] = {}
        self._backing_off = 0  # of those, the ones in the ticker (phase BACKOFF)
        self._stop_retries = False
        #: ``submit`` callers blocked by ``max_queue`` (on_full="block").
        self._not_full = threading.Condition(self._lock)
        self._full_waiters = 0
        self._ticker: Ticker[RequestFuture | str, list[Entry[RequestFuture]]] = Ticker(
            self._lock, f"{name}-timer", self._on_due, self._after_due
        )
        _LIVE.add(self)

    def shutdown(self, wait: bool = True, *, cancel_pending: bool = False) -> None:
        """Stop the workers; the Scheduler defines it (the exit hook calls it)."""
        raise NotImplementedError

    def _wake_or_spawn(self) -> list[Entry[RequestFuture]]:
        """Under the lock, after a push: get a worker onto the runnable work."""
        if self._queue.ready_hosts:
            if self._idle:
                self._idle -= 1
                self._wakeup.notify()
            elif len(self._threads) < self._max_workers:
                return self._spawn()
        return []

    def _spawn(self) -> list[Entry[RequestFuture]]:
        """Under the lock: start one more worker.

        Starting a thread runs no user code and needs not this lock, so it is
        done here: ``shutdown(wait=True)`` then never sees an unstarted worker.
        If no thread can start (interpreter exit, resources) and none runs,
        the queued requests are stranded: they are returned, to be failed.
        """
        slot = len(self._threads)
        thread = threading.Thread(
            target=self._work, args=(slot,), name=f"{self._name}-worker-{slot}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:
            self._start_error = exc
            if self._threads:
                return []
            stranded = self._queue.drain()
            for entry in stranded:
                future = entry.item
                self._between.pop(future, None)
                self._end(future, FAILED)
            return stranded
        self._threads.append(thread)
        self._current.append(None)
        return []

    def _fail_stranded(self, stranded: list[Entry[RequestFuture]]) -> None:
        cause = self._start_error
        for entry in stranded:
            error = HttpError.of(UNKNOWN, f"cannot start a worker thread: {cause}")
            error.__cause__ = cause
            with contextlib.suppress(InvalidStateError):
                entry.item.set_exception(error)

    def _may_leave(self) -> bool:
        """Under the lock, after shutdown: nothing is left that this worker could run later."""
        return not self._backing_off and (not self._queue.held_hosts or not len(self._queue))

    def _running_futures(self) -> list[RequestFuture]:
        """Under the lock: the requests running now."""
        return [f for f in self._current if f is not None and f._phase == RUNNING]

    def _shutdown_at_exit(self, stop: bool) -> None:
        """Interpreter exit: queued requests still run, as with ThreadPoolExecutor;
        with ``stop`` (an unhandled exception, Ctrl-C) they are cancelled and aborted."""
        raise NotImplementedError

    def _work(self, slot: int) -> None:
        """A worker's life: take the best runnable request, run it, repeat until shut down.

        The request is marked running while the lock is still held: that runs
        no user code (``Future`` only wakes its waiters), and so no other
        thread ever sees a request taken off the queue but not yet running.
        """
        lock = self._lock
        queue = self._queue
        current = self._current
        while True:
            with lock:
                entry = queue.pop()
                while entry is None:
                    if self._shutdown and self._may_leave():
                        return
                    self._idle += 1
                    self._wakeup.wait()
                    entry = queue.pop()
                future = entry.item
                future._entry = None
                self._running += 1
                if self._pacer is not None:
                    self._pace(entry.host.name)
                tag = future._tag
                if tag is not None:
                    self._tags.started(tag)
                if self._between:
                    self._between.pop(future, None)
                if self._full_waiters:
                    self._not_full.notify()
                # A retry is RUNNING already (its first attempt moved it there).
                if future._state == FUTURE_RUNNING or future.set_running_or_notify_cancel():
                    future._phase = RUNNING
                    job = future._job
                    current[slot] = future
                else:  # cancelled through Future.cancel() itself, bypassing ours
                    self._release(entry.host.name)
                    if tag is not None:
                        self._tags.stopped(tag)
                    self._end(future, CANCELLED)
                    continue
            assert job is not None  # set until the request ends
            self._run(future, job)

    def _pace(self, host: str) -> None:
        """Under the lock: a request of ``host`` starts; hold the host until its next is due.

        A host with nothing waiting is not held: a later push checks it (``_pace_push``).
        """
        assert self._pacer is not None
        now = _monotonic()
        due = self._pacer.started(host, now)
        if due > now and self._queue.waiting(host) and self._ticker.schedule(due, host):
            self._queue.hold(host)

    def _pace_push(self, host: str) -> None:
        """Under the lock, before a push for ``host``: hold it if it is not due yet."""
        assert self._pacer is not None
        due = self._pacer.due(host)
        if (
            due is not None
            and due > _monotonic()
            and not self._queue.is_held(host)
            and self._ticker.schedule(due, host)
        ):
            self._queue.hold(host)

    def _run(self, future: RequestFuture, job: Job) -> None:
        """Run one request, marked running, on this worker thread."""
        host = job.host_key
        debug = enabled(_DEBUG)  # once per request: the helper's call is skipped when off
        if debug:
            log_request(_DEBUG, "started", future, job)
        result: object = None
        error: BaseException | None = None
        try:
            result = job.run()
        except BaseException as exc:  # a worker never dies: the future carries it
            error = exc
        retry = None
        if self._retry is not None or getattr(job, "retry", None):
            retry = self._retry_delay(job, result, error)
        with self._lock:
            self._release(host)
            dropped = future._phase == PHASE_ABORTED  # _abort() already failed it
            if dropped:
                self._forget(future)
            else:
                if future._tag is not None:
                    self._tags.stopped(future._tag)
                if retry is not None and self._retry_later(future, retry[0]):
                    future._phase = BACKOFF
                    self._between[future] = (result, error)
                else:
                    self._end(future, COMPLETED if error is None else FAILED)
                    retry = None
        if dropped:
            return
        if retry is not None:
            log_request(
                _INFO,
                "retry_scheduled",
                future,
                job,
                attempt=getattr(job, "attempts", 1),
                delay=round(retry[0], 3),
                reason=retry[1],
            )
            return
        self._resolve(future, job, result, error, debug)

    def _resolve(
        self,
        future: RequestFuture,
        job: Job,
        result: object,
        error: BaseException | None,
        debug: bool,
    ) -> None:
        """Outside the lock: resolve the future (its done-callbacks run here) and log."""
        if not resolve(future, result, error):
            return
        if error is not None:
            self._log_failed(future, job, error)
        elif debug:  # checked once per request, in _run
            log_request(_DEBUG, "finished", future, job, attempts=getattr(job, "attempts", 1))

    def _retry_delay(
        self, job: Job, result: object, error: BaseException | None
    ) -> tuple[float, str] | None:
        """Outside the lock: ``(seconds, reason)`` if this attempt is to be retried.

        Only jobs that count their ``attempts`` can be retried.
        """
        policy: RetryPolicy | int | None = getattr(job, "retry", None)
        if policy is None:
            policy = self._retry
        if not policy or self._stop_retries or isinstance(policy, int):
            return None
        attempts = getattr(job, "attempts", None)
        if not isinstance(attempts, int):
            return None
        return policy.next_delay(
            attempts,
            getattr(job, "method", "GET"),
            result,
            error,
            wall_now=time.time(),
            rand=_jitter.random(),
        )

    def _retry_later(self, future: RequestFuture, delay: float) -> bool:
        """Under the lock: put ``future`` in the ticker for ``delay`` seconds."""
        if self._stop_retries or not self._ticker.schedule(_monotonic() + delay, future):
            return False
        self._backing_off += 1
        return True

    def _on_due(self, items: list[RequestFuture | str]) -> list[Entry[RequestFuture]]:
        """Under the lock, on the ticker: due hosts rejoin the ready ones, due retries the queue."""
        queue = self._queue
        stranded: list[Entry[RequestFuture]] = []
        for item in items:
            if isinstance(item, str):
                queue.release(item)
            else:
                if item._phase != BACKOFF or item._job is None:
                    continue  # stopped meanwhile
                self._backing_off -= 1
                item._phase = WAITING
                host = item._job.host_key
                if self._pacer is not None:
                    self._pace_push(host)
                item._entry = queue.push(item, host, item._priority, self._base())
            stranded += self._wake_or_spawn()
        if self._shutdown:
            self._idle = 0
            self._wakeup.notify_all()  # leaving may be allowed now, or there is work again
        return stranded

    def _after_due(self, stranded: list[Entry[RequestFuture]]) -> None:
        if stranded:
            self._fail_stranded(stranded)

    def _base(self) -> float:
        """The queue rank base of a request enqueued now (0 without aging)."""
        aging = self._aging
        return 0 if aging is None else aging.base(_monotonic())

    def _release(self, host: str) -> None:
        """Under the lock: a request left its worker; free its host slot."""
        self._running -= 1
        queue = self._queue
        queue.done(host)
        if self._idle and queue.ready_hosts:
            self._idle -= 1
            self._wakeup.notify()

    def _end(self, future: RequestFuture, outcome: int) -> None:
        """Under the lock: count the request's outcome (tag included) and forget it."""
        if outcome == COMPLETED:
            self._completed += 1
        elif outcome == FAILED:
            self._failed += 1
        else:
            self._cancelled += 1
        if future._tag is not None:
            self._tags.ended(future._tag, future, outcome)
        if future._phase != PHASE_ABORTED:  # what _forget does, without the call
            future._phase = DONE
        future._entry = None
        future._job = None

    def _forget(self, future: RequestFuture) -> None:
        """Under the lock: the request ended; drop what it no longer needs."""
        if future._phase != PHASE_ABORTED:
            future._phase = DONE
        future._entry = None
        future._job = None

    def _log_failed(self, future: RequestFuture, job: Job, error: BaseException) -> None:
        log_request(
            _INFO, "failed", future, job, attempts=getattr(job, "attempts", 1), error=repr(error)
        )


# -- interpreter exit ------------------------------------------------------------

_LIVE: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def exiting_on_error() -> bool:
    """Whether the interpreter is exiting because of an unhandled exception (Ctrl-C included).

    CPython records the exception it printed in ``sys.last_value`` (``last_exc``
    from 3.12), whatever ``sys.excepthook`` is. An interactive session is never
    ending because of one (its errors are shown and it goes on), so it drains.
    """
    if hasattr(sys, "ps1"):
        return False
    return (
        getattr(sys, "last_exc", None) is not None or getattr(sys, "last_value", None) is not None
    )


def _shutdown_all() -> None:
    """At exit, before non-daemon threads are joined: let every queued request finish,
    unless an unhandled exception (Ctrl-C) ends the program, or Ctrl-C comes meanwhile:
    then cancel what waits and abort what runs."""
    pools = list(_LIVE)
    stop = exiting_on_error()
    try:
        for pool in pools:
            pool._shutdown_at_exit(stop)
    except KeyboardInterrupt:
        for pool in pools:
            pool._shutdown_at_exit(True)


def _register_exit_hook() -> None:
    # threading._register_atexit runs before the interpreter joins non-daemon
    # threads (atexit runs after), as concurrent.futures relies on.
    register: Any = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - not CPython
        import atexit

        atexit.register(_shutdown_all)
    else:
        register(_shutdown_all)


_register_exit_hook()
