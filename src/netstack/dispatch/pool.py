"""WorkerPool: threads that apply a :class:`~netstack.dispatch.state.Dispatcher`'s effects.

The shape of CPython's ``concurrent.futures.thread``: a work item is a
ticket, the worker loop is a free function reading a ``SimpleQueue``, a
thread starts only when no idle one can take the item (up to
``max_workers``). One lock guards the dispatcher state. Each operation takes
the lock, asks the state, hands started tickets to workers and arms the
timer under it, then, outside it, aborts jobs, settles futures (their
done-callbacks run there, and may call ``submit`` or ``shutdown``) and
logs. A worker that finishes a run goes straight on with the next ticket
the state started for it.

Delayed work never holds a worker: one timer thread (started on first use)
sleeps until the state's next wake-up (a retry due, a host's politeness hold
ending) and asks the state to start what became runnable.

``shutdown(wait=True)`` joins the workers, except when called from one of
this pool's own threads (a done-callback, a request callback, an event
listener): that thread then returns at once, never waiting for itself, and
the pool keeps draining. Workers are daemon threads and leave once the pool
is closed and nothing runs or waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import InvalidStateError
from queue import SimpleQueue
from typing import TYPE_CHECKING, Final

from netstack.dispatch.errors import QueueFullError, SchedulerShutdownError
from netstack.dispatch.tags import TagStats
from netstack.dispatch.ticket import (
    ABORTED,
    RUNNING,
    WAITING,
    Ticket,
    cancel_quietly,
    resolve,
)
from netstack.dispatch.trim import trim_traceback
from netstack.errors import UNKNOWN, HttpError
from netstack.log import enabled, log_event
from netstack.threads import start_daemon

if TYPE_CHECKING:
    from netstack.dispatch.job import Job, RetryRule
    from netstack.dispatch.state import Dispatcher, Effects

__all__ = ["PoolStats", "WorkerPool", "log_ticket"]

_DEBUG: Final = logging.DEBUG
_INFO: Final = logging.INFO
_monotonic = time.monotonic
#: Seconds a wake-up may come late so that items due close together go in one.
_SLACK: Final = 0.001


class PoolStats:
    """Counters of a pool, read under its lock."""

    __slots__ = (
        "cancelled",
        "completed",
        "failed",
        "queued",
        "retrying",
        "running",
        "submitted",
        "tags",
    )

    def __init__(self, state: Dispatcher) -> None:
        backend = state.backend
        self.submitted = state.submitted
        self.queued = len(backend)
        self.running = state.running
        self.completed = state.completed
        self.failed = state.failed
        self.cancelled = state.cancelled
        self.retrying = backend.delayed
        self.tags: dict[str, TagStats] = state.tags.snapshot() if state.tags else {}


def log_ticket(level: int, event: str, ticket: Ticket, job: Job | None, **extra: object) -> None:
    """One state change of a job, with the fields every such event carries."""
    if enabled(level):
        log_event(
            level,
            event,
            request_id=ticket.request_id,
            url=None if job is None else job.url,
            priority=ticket._priority,
            **extra,
        )


class WorkerPool:
    """Runs a dispatcher's tickets on up to ``max_workers`` threads."""

    def __init__(
        self,
        state: Dispatcher,
        *,
        name: str,
        retry_rule: RetryRule | None = None,
        retry_all: bool = False,
        max_queue: int | None = None,
        block_when_full: bool = False,
    ) -> None:
        self.state = state
        self.name = name
        #: Asked after each run of a job that has a truthy ``retry`` attribute, or of
        #: every job with ``retry_all``.
        self._retry_rule = retry_rule
        self._retry_all = retry_all
        self._max_queue = max_queue
        self._block_when_full = block_when_full
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._full_waiters = 0
        self._work: SimpleQueue[Ticket | None] = SimpleQueue()
        #: Workers that found nothing to run and wait on the work queue (under the lock).
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._start_error: RuntimeError | None = None
        self._timer: threading.Thread | None = None
        self._timer_cond = threading.Condition(self._lock)
        self._timer_due: float | None = None

    # -- queries ---------------------------------------------------------------

    @property
    def lock(self) -> threading.Lock:
        """The lock guarding :attr:`state` (hold it to read the state consistently)."""
        return self._lock

    @property
    def threads(self) -> list[threading.Thread]:
        """The worker threads started so far (alive or not)."""
        return list(self._threads)

    @property
    def closed(self) -> bool:
        return self.state.closed

    @property
    def blocks_when_full(self) -> bool:
        """``max_queue`` is set and a full queue makes ``submit`` wait for room."""
        return self._block_when_full and self._max_queue is not None

    def own_thread(self) -> bool:
        """Whether the calling thread is one of this pool's (a worker or its timer)."""
        me = threading.current_thread()
        return me is self._timer or me in self._threads

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(self.state)

    def snapshot(self) -> PoolStats:
        """:meth:`stats` for a caller that holds :attr:`lock` already."""
        return PoolStats(self.state)

    def shutdown_error(self) -> SchedulerShutdownError:
        return SchedulerShutdownError(
            UNKNOWN, None, f"scheduler {self.name!r} is shut down: it accepts no requests"
        )

    # -- submitting --------------------------------------------------------------

    def submit(self, ticket: Ticket, *, timeout: float | None = None) -> None:
        """Queue one ticket; with ``max_queue`` reached, raise or wait for room."""
        state = self.state
        with self._lock:
            if state.closed:
                raise self.shutdown_error()
            max_queue = self._max_queue
            if max_queue is not None and len(state.backend) >= max_queue:
                self._wait_for_room(max_queue, timeout)
            effects = state.submit(ticket, _monotonic())
            if effects.start or effects.wake_at is not None:
                self._enact(effects)
        if effects.settle:  # only when no worker thread could start (all of it failed)
            self._settle(effects)

    def submit_many(self, tickets: Sequence[Ticket]) -> None:
        """Queue tickets all at once, or none (QueueFullError, SchedulerShutdownError)."""
        state = self.state
        with self._lock:
            if state.closed:
                raise self.shutdown_error()
            if not state.room(self._max_queue, len(tickets)):
                raise QueueFullError(
                    UNKNOWN,
                    None,
                    f"max_queue: the queue is full ({len(state.backend)} waiting, "
                    f"{len(tickets)} more submitted)",
                )
            effects = state.submit_many(tickets, _monotonic())
            self._enact(effects)
        if effects.settle:  # only when no worker thread could start (all of it failed)
            self._settle(effects)

    def settled(self, ticket: Ticket, ok: bool) -> None:
        """Count a ticket that ended at submit (the caller resolves it after)."""
        with self._lock:
            if self.state.closed:
                raise self.shutdown_error()
            self.state.settled(ticket, ok)

    # -- changing what waits ---------------------------------------------------------

    def withdraw(self, ticket: Ticket) -> bool:
        """``future.cancel()``: cancel ``ticket`` if it never ran and still waits."""
        with self._lock:
            if not self.state.withdraw(ticket):
                return False
            self._after_removal()
        cancel_quietly(ticket)
        return True

    def abort(self, ticket: Ticket, error: BaseException, *, cancel_waiting: bool) -> bool:
        """End ``ticket`` in any phase (see ``Dispatcher.abort``); False if it had ended."""
        with self._lock:
            effects = self.state.abort(ticket, error, cancel_waiting=cancel_waiting)
            self._after_removal()
        self._settle(effects)
        return bool(effects.settle or effects.cancelled)

    def set_priority(self, ticket: Ticket, priority: int) -> bool:
        with self._lock:
            return self.state.set_priority(ticket, priority)

    def set_priority_tag(self, tag: str, priority: int) -> int:
        with self._lock:
            return self.state.set_priority_tag(tag, priority)

    def cancel_tag(self, tag: str) -> int:
        with self._lock:
            count, effects = self.state.cancel_tag(tag)
            self._after_removal()
        self._settle(effects)
        return count

    def tick(self) -> None:
        """Start what became runnable outside the pool's sight: a leased backend's owner
        calls it after adding the leases it fetched (see ``dispatch/backend.py``)."""
        with self._lock:
            effects = self.state.tick(_monotonic())
            self._enact(effects)
        if effects.settle:  # only when no worker thread could start (all of it failed)
            self._settle(effects)

    def set_limit(self, host: str, limit: int | None) -> None:
        """Change ``host``'s in-flight limit now (None: back to ``max_per_host``)."""
        with self._lock:
            self.state.backend.set_limit(host, limit)
            effects = self.state.tick(_monotonic())
            self._enact(effects)
        self._settle(effects)

    # -- stopping ----------------------------------------------------------------------

    def close(self, cancel_pending: bool) -> None:
        """Accept nothing more; with ``cancel_pending`` end what waits now."""
        with self._lock:
            effects = self.state.close(cancel_pending)
            self._not_full.notify_all()
            self._enact(effects)
        self._settle(effects)

    def detach_all(self) -> list[Ticket]:
        """Close and take out what waits, uncounted; then end_detached() or put_back()."""
        with self._lock:
            self.state.closed = True
            taken = self.state.detach_all()
            self._not_full.notify_all()
            return taken

    def end_detached(self, taken: list[Ticket]) -> None:
        with self._lock:
            effects = self.state.end_detached(taken, held_back=True)
            self._enact(effects)
        self._settle(effects)

    def put_back(self, taken: list[Ticket]) -> None:
        with self._lock:
            effects = self.state.put_back(taken, _monotonic())
            self._enact(effects)
        self._settle(effects)

    def abort_running(self, error: BaseException) -> int:
        """Abort every running ticket with ``error``; returns how many."""
        with self._lock:
            running = self.state.running_tickets()
        return sum(self.abort(t, error, cancel_waiting=False) for t in running)

    def phase(self, ticket: Ticket) -> str:
        """Where ``ticket`` is, for messages: queued, waiting to retry, running or ended."""
        with self._lock:
            phase = ticket._phase
            if phase == WAITING:
                return "waiting to retry" if ticket in self.state.between else "queued"
            return "running" if phase == RUNNING else "ended"

    def join(self) -> bool:
        """Wait for the workers to leave; False (at once) when called from one of them."""
        if self.own_thread():
            return False
        for thread in self.threads:
            thread.join()
        return True

    # -- under the lock ------------------------------------------------------------------

    def _enact(self, effects: Effects, *, keep: bool = False) -> Ticket | None:
        """Under the lock: hand started tickets to workers, arm the timer, let workers leave.

        With ``keep`` (a worker asking), the first started ticket is returned
        for the caller to run instead of being queued.
        """
        start = effects.start
        mine = None
        if start:
            if self._full_waiters:
                self._not_full.notify(len(start))
            work = self._work
            if keep:
                mine = start[0]
                start = start[1:]
            for ticket in start:
                work.put(ticket)
            for _ in start:
                if not self._adjust(effects):
                    break
        wake = effects.wake_at
        if wake is not None:
            self._arm(wake)
        if self.state.closed and not self._stopping and self.state.idle:
            self._stopping = True
            self._work.put(None)
            self._timer_cond.notify()
        return mine

    def _after_removal(self) -> None:
        if self._full_waiters:
            self._not_full.notify()
        state = self.state
        if state.closed and not self._stopping and state.idle:
            self._stopping = True
            self._work.put(None)
            self._timer_cond.notify()

    def _adjust(self, effects: Effects) -> bool:
        """Under the lock, after a put: make sure a thread will take it.

        False when no thread can start and none runs: then every started and
        waiting ticket is failed (``effects`` carries the settling).
        """
        if self._idle:
            self._idle -= 1
            return True
        threads = self._threads
        if len(threads) >= self.state.max_workers:
            return True
        try:
            thread = start_daemon(_worker, f"{self.name}-worker-{len(threads)}", (self, self._work))
        except RuntimeError as exc:
            self._start_error = exc
            if any(t.is_alive() for t in threads):
                return True
            error = HttpError.of(UNKNOWN, f"cannot start a worker thread: {exc}")
            error.__cause__ = exc
            handed: list[Ticket] = []
            while not self._work.empty():
                item = self._work.get_nowait()
                if item is not None:
                    handed.append(item)
            failed = self.state.fail_all(handed, error)
            effects.settle = (effects.settle or []) + (failed.settle or [])
            return False
        threads.append(thread)
        return True

    def _arm(self, due: float) -> None:
        """Under the lock: make the timer thread call ``tick`` at ``due`` (or earlier)."""
        current = self._timer_due
        if current is not None and current <= due:
            return
        self._timer_due = due
        if self._timer is None:
            try:
                thread = start_daemon(self._tick_loop, f"{self.name}-timer")
            except RuntimeError:
                return  # interpreter exit: workers still tick on their way (see _run)
            self._timer = thread
        else:
            self._timer_cond.notify()

    def _wait_for_room(self, max_queue: int, timeout: float | None) -> None:
        """Under the lock, the queue full: raise, or wait for room (``on_full="block"``)."""
        state = self.state
        if not self._block_when_full:
            raise QueueFullError(
                UNKNOWN, None, f"max_queue: the queue is full ({len(state.backend)} waiting)"
            )
        deadline = None if timeout is None else _monotonic() + timeout
        self._full_waiters += 1
        try:
            while len(state.backend) >= max_queue:
                remaining = None if deadline is None else deadline - _monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFullError(
                        UNKNOWN,
                        None,
                        f"max_queue: no room within {timeout}s ({len(state.backend)} waiting)",
                    )
                self._not_full.wait(remaining)
                if state.closed:
                    raise self.shutdown_error()
        finally:
            self._full_waiters -= 1

    # -- threads ---------------------------------------------------------------------------

    def _tick_loop(self) -> None:
        cond = self._timer_cond
        state = self.state
        while True:
            with self._lock:
                while True:
                    if self._stopping:
                        self._timer = None
                        return
                    due = self._timer_due
                    if due is None:
                        cond.wait()
                        continue
                    now = _monotonic()
                    if due > now:
                        cond.wait(due - now + _SLACK)
                        continue
                    self._timer_due = None
                    effects = state.tick(now)
                    self._enact(effects)
                    break
            self._settle(effects)

    def _run(self, ticket: Ticket) -> Ticket | None:
        """Run one started ticket on this worker; returns the next one the state started for it."""
        job = ticket._job
        assert job is not None
        debug = enabled(_DEBUG)  # once per run: the helper's call is skipped when off
        if debug:
            log_ticket(_DEBUG, "started", ticket, job)
        result: object = None
        error: BaseException | None = None
        try:
            result = job.run()
        except BaseException as exc:  # a worker never dies: the future carries it
            error = trim_traceback(exc)
        retry = None
        if self._retry_rule is not None and (self._retry_all or getattr(job, "retry", None)):
            retry = self._ask_retry(ticket, job, result, error)
        now = _monotonic()
        with self._lock:
            state = self.state
            # an abort settled it already: no retry to announce
            announce = retry is not None and ticket._phase != ABORTED
            effects = state.finished(
                ticket, result, error, None if retry is None else retry[0], now
            )
            start = effects.start
            if (
                start is not None
                and len(start) == 1
                and effects.wake_at is None
                and not state.closed
                and not self._full_waiters
            ):
                mine: Ticket | None = start[0]  # _enact(keep=True), for every request's path
            else:
                mine = self._enact(effects, keep=True)
                if mine is None:
                    self._idle += 1  # it waits on the work queue next
        settle = effects.settle
        if settle is None:
            if announce and retry is not None:  # waits for its retry, here or in the backend
                log_ticket(
                    _INFO,
                    "retry_scheduled",
                    ticket,
                    job,
                    attempt=getattr(job, "attempts", 1),
                    delay=round(retry[0], 3),
                    reason=retry[1],
                )
        elif len(settle) == 1 and effects.aborts is None and effects.cancelled is None:
            self._settle_one(ticket, job, result, error, debug)
        else:
            self._settle(effects)
        return mine

    def _ask_retry(
        self, ticket: Ticket, job: Job, result: object, error: BaseException | None
    ) -> tuple[float, str] | None:
        """Outside the lock: the retry rule's ``(seconds, reason)``, or None."""
        rule = self._retry_rule
        if rule is None or ticket._phase == ABORTED:
            return None
        try:
            return rule(job, result, error)
        except Exception as exc:  # a broken rule must not strand the ticket: no retry
            log_event(_INFO, "retry_rule_failed", url=job.url, error=repr(exc))
            return None

    def _settle_one(
        self,
        ticket: Ticket,
        job: Job,
        result: object,
        error: BaseException | None,
        debug: bool,
    ) -> None:
        """Outside the lock: settle the one future of a run (its done-callbacks run here)."""
        try:
            if error is None:
                ticket.set_result(result)
            else:
                ticket.set_exception(error)
        except InvalidStateError:
            return
        if error is not None:
            log_ticket(
                _INFO,
                "failed",
                ticket,
                job,
                attempts=getattr(job, "attempts", 1),
                error=repr(error),
            )
        elif debug:
            log_ticket(_DEBUG, "finished", ticket, job, attempts=getattr(job, "attempts", 1))

    # -- outside the lock ----------------------------------------------------------------------

    def _settle(self, effects: Effects) -> None:
        """Abort jobs, then cancel and settle futures (done-callbacks run here), and log."""
        aborts = effects.aborts
        if aborts:
            for job in aborts:
                try:
                    job.abort()
                except Exception as exc:  # abort() must not keep a future pending
                    log_event(_INFO, "abort_failed", url=job.url, error=repr(exc))
        cancelled = effects.cancelled
        if cancelled:
            for ticket in cancelled:
                cancel_quietly(ticket)
        settle = effects.settle
        if settle:
            for ticket, settled_job, result, error in settle:
                if resolve(ticket, result, error) and error is not None:
                    log_ticket(
                        _INFO,
                        "failed",
                        ticket,
                        settled_job,
                        attempts=getattr(settled_job, "attempts", 1),
                        error=repr(error),
                    )

    def __repr__(self) -> str:
        return f"<WorkerPool {self.name!r} {len(self._threads)} threads {self.state!r}>"


def _worker(pool: WorkerPool, work: SimpleQueue[Ticket | None]) -> None:
    """A worker's life: run what it is handed until the pool stops.

    A worker that finishes a run with nothing started for it counts itself
    idle (under the pool's lock, in ``_run``) before it waits on the queue.
    """
    ticket = work.get()
    while ticket is not None:
        try:
            ticket = pool._run(ticket)
        except BaseException:  # pragma: no cover - _run catches the job's errors
            ticket = None
        if ticket is None:
            ticket = work.get()
    work.put(None)  # let the next worker leave too
