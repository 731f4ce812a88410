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
(before the interpreter joins non-daemon threads), so queued work finishes.
"""

from __future__ import annotations

import logging
import threading
import weakref
from concurrent.futures import InvalidStateError
from typing import TYPE_CHECKING, Any

from netstack.errors import UNKNOWN, HttpError
from netstack.log import enabled, log_event
from netstack.scheduler.future import ABORTED as PHASE_ABORTED
from netstack.scheduler.future import DISPATCHED, DONE, RUNNING, RequestFuture
from netstack.scheduler.queue import HostQueue

if TYPE_CHECKING:
    from netstack.scheduler.job import Job
    from netstack.scheduler.queue import Entry

__all__ = ["WorkerPool"]

_DEBUG = logging.DEBUG
_INFO = logging.INFO


class WorkerPool:
    """The threads that run queued requests; the base of :class:`Scheduler`."""

    def __init__(self, max_workers: int, max_per_host: int, name: str) -> None:
        self._max_workers = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: HostQueue[RequestFuture] = HostQueue(max_per_host)
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for work and not yet notified
        self._shutdown = False
        self._start_error: RuntimeError | None = None
        self._submitted = 0
        self._running = 0
        self._completed = 0
        self._failed = 0
        self._cancelled = 0
        self._cache_hits = 0
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
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-worker-{len(self._threads)}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as exc:
            self._start_error = exc
            if self._threads:
                return []
            stranded = self._queue.drain()
            for entry in stranded:
                self._forget(entry.item)
            self._failed += len(stranded)
            return stranded
        self._threads.append(thread)
        return []

    def _fail_stranded(self, stranded: list[Entry[RequestFuture]]) -> None:
        cause = self._start_error
        for entry in stranded:
            error = HttpError.of(UNKNOWN, f"cannot start a worker thread: {cause}")
            error.__cause__ = cause
            entry.item.set_exception(error)

    def _work(self) -> None:
        """A worker's life: take the best runnable request, run it, repeat until shut down."""
        lock = self._lock
        queue = self._queue
        while True:
            with lock:
                entry = queue.pop()
                while entry is None:
                    if self._shutdown:
                        return
                    self._idle += 1
                    self._wakeup.wait()
                    entry = queue.pop()
                future = entry.item
                future._entry = None
                future._phase = DISPATCHED
                self._running += 1
            self._run(future)

    def _run(self, future: RequestFuture) -> None:
        """Run one dispatched request on this worker thread."""
        job = future._job
        assert job is not None  # set until the request ends
        host = job.host_key
        if not self._mark_running(future, host):
            return
        if enabled(_DEBUG):
            log_event(
                _DEBUG,
                "started",
                request_id=future.request_id,
                url=job.url,
                priority=future.priority,
            )
        result: object = None
        error: BaseException | None = None
        try:
            result = job.run()
        except BaseException as exc:  # a worker never dies: the future carries it
            error = exc
        with self._lock:
            self._release(host)
            dropped = future._phase == PHASE_ABORTED  # _abort() already failed it
            if not dropped:
                if error is None:
                    self._completed += 1
                else:
                    self._failed += 1
            self._forget(future)
        if not dropped:
            self._resolve(future, job, result, error)

    def _mark_running(self, future: RequestFuture, host: str) -> bool:
        """Move a dispatched request to running; False if it was cancelled or aborted."""
        started = future.set_running_or_notify_cancel()
        with self._lock:
            if started and future._phase != PHASE_ABORTED:
                future._phase = RUNNING
                return True
            # Cancelled (or aborted) between leaving the queue and starting.
            self._release(host)
            if started:
                self._failed += 1  # _abort() lost the race to cancel it: it fails it
            else:
                self._cancelled += 1
            self._forget(future)
            return False

    def _resolve(
        self, future: RequestFuture, job: Job, result: object, error: BaseException | None
    ) -> None:
        """Outside the lock: resolve the future (its done-callbacks run here) and log."""
        try:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        except InvalidStateError:
            return
        if error is not None:
            self._log_failed(future, job, error)
        elif enabled(_DEBUG):
            log_event(
                _DEBUG,
                "finished",
                request_id=future.request_id,
                url=job.url,
                priority=future.priority,
            )

    def _release(self, host: str) -> None:
        """Under the lock: a request left its worker; free its host slot."""
        self._running -= 1
        queue = self._queue
        queue.done(host)
        if self._idle and queue.ready_hosts:
            self._idle -= 1
            self._wakeup.notify()

    def _forget(self, future: RequestFuture) -> None:
        """Under the lock: the request ended; drop what it no longer needs."""
        if future._phase != PHASE_ABORTED:
            future._phase = DONE
        future._entry = None
        future._job = None

    def _log_failed(self, future: RequestFuture, job: Job, error: BaseException) -> None:
        if enabled(_INFO):
            log_event(
                _INFO,
                "failed",
                request_id=future.request_id,
                url=job.url,
                priority=future.priority,
                error=repr(error),
            )


# -- interpreter exit ------------------------------------------------------------

_LIVE: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def _shutdown_all() -> None:
    """At exit, before non-daemon threads are joined: let every queued request finish."""
    for pool in list(_LIVE):
        pool.shutdown(wait=True)


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
