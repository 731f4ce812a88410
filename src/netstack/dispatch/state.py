"""Dispatcher: the state of jobs between submit and their end. No threads, no clock.

Every method is called under the owner's lock with ``now`` (monotonic
seconds) where time matters, mutates only this object and its queue backend,
and returns :class:`Effects`: what the owner must do *after* releasing the
lock (settle these futures, cancel those, abort those jobs) or may do under
it (hand these tickets to workers, wake up at ``t``). It never blocks, never
calls user code and never resolves a future, so a done-callback may call
back into the owner (``submit``, ``shutdown``) from any thread.

The rules it keeps:

- at most ``max_workers`` tickets are RUNNING; tickets start best first, as
  the backend orders them (priority, then submission order; per-host slots;
  politeness holds; due retries);
- each ticket ends exactly once, counted (``completed``, ``failed`` or
  ``cancelled``, per tag too) under the lock before its future is settled,
  so once a future is done ``stats`` includes it;
- a run whose outcome the owner's retry rule wants again goes back to the
  backend with a due time (it holds no worker meanwhile); its future stays
  RUNNING and its last outcome is kept, so whoever stops it early settles
  it with that outcome. With a leased backend (``backend.leases``, see
  ``backend.py``) the retry is the shared queue's: the ticket ends here,
  neither counted nor settled, and the next run comes back as a new ticket;
- ``abort`` ends a ticket in any phase: waiting (taken out of the backend),
  between two runs, or running (its job is told to abort; the run's outcome
  is dropped when it returns, and its slot freed then).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures._base import RUNNING as FUTURE_RUNNING
from typing import TYPE_CHECKING, Final

from netstack.dispatch.tags import CANCELLED, COMPLETED, FAILED, TagIndex
from netstack.dispatch.ticket import ABORTED, DONE, RUNNING, WAITING, Outcome, Ticket

if TYPE_CHECKING:
    from netstack.dispatch.backend import QueueBackend
    from netstack.dispatch.job import Job

__all__ = ["Dispatcher", "Effects", "Settle"]

Settle = tuple[Ticket, "Job | None", object, "BaseException | None"]
"""Settle ``ticket`` (its job, for logs) with ``(result, error)``."""


class Effects:
    """What to do after a decision; None or empty fields mean nothing to do."""

    __slots__ = ("aborts", "cancelled", "settle", "start", "wake_at")

    def __init__(self, start: list[Ticket] | None = None) -> None:
        #: Tickets now RUNNING: hand each to a worker (may be done under the lock).
        self.start = start
        #: Futures to settle, outside the lock.
        self.settle: list[Settle] | None = None
        #: Futures of tickets that never ran, to cancel outside the lock.
        self.cancelled: list[Ticket] | None = None
        #: Running jobs to tell to abort, outside the lock (before settling).
        self.aborts: list[Job] | None = None
        #: Call :meth:`Dispatcher.tick` at this monotonic time (or earlier).
        self.wake_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"<Effects start={self.start} settle={self.settle} cancelled={self.cancelled} "
            f"aborts={self.aborts} wake_at={self.wake_at}>"
        )


#: What a decision that changes nothing returns (shared: never mutate it).
NOTHING: Final = Effects()


class Dispatcher:
    """Jobs in, jobs out: the decisions of a worker pool over a queue backend."""

    __slots__ = (
        "_wake",
        "active",
        "backend",
        "between",
        "cancelled",
        "closed",
        "completed",
        "failed",
        "held_back",
        "leases",
        "max_workers",
        "stop_retries",
        "submitted",
        "tags",
    )

    def __init__(self, backend: QueueBackend[Ticket], max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.backend = backend
        self.max_workers = max_workers
        #: Tickets handed to workers and not yet finished (aborted ones included).
        self.active: set[Ticket] = set()
        self.closed = False
        self.stop_retries = False
        #: Tickets that ran and wait to run again -> their last outcome.
        self.between: dict[Ticket, Outcome] = {}
        #: Tickets taken out by :meth:`detach_all` and not yet ended or put back.
        self.held_back = 0
        self.submitted = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.tags = TagIndex()
        self._wake: float | None = None
        #: The backend's items are leases (``LeasedBackend``): a retry goes back to the
        #: shared queue and returns as a new item, so nothing is kept between runs.
        self.leases: bool = getattr(backend, "leases", False)

    # -- queries ---------------------------------------------------------------

    @property
    def running(self) -> int:
        """Tickets handed to workers and not yet finished."""
        return len(self.active)

    def running_tickets(self) -> list[Ticket]:
        """The tickets running now (not those aborted whose run has yet to return)."""
        return [t for t in self.active if t._phase == RUNNING]

    @property
    def idle(self) -> bool:
        """Nothing runs and nothing waits: after :meth:`close`, workers may leave."""
        return not self.active and not self.held_back and self.backend.empty

    def room(self, max_queue: int | None, more: int) -> bool:
        """Whether ``more`` tickets fit under ``max_queue`` waiting ones."""
        return max_queue is None or len(self.backend) + more <= max_queue

    # -- entering --------------------------------------------------------------

    def submit(self, ticket: Ticket, now: float) -> Effects:
        """Queue one ticket (the owner checked ``closed`` and room)."""
        job = ticket._job
        assert job is not None
        tag = ticket._tag
        backend = self.backend
        backend.push(ticket, job.host_key, ticket._priority, tag, now)
        if tag is not None:
            self.tags.add(tag)
        self.submitted += 1
        if len(self.active) >= self.max_workers and backend.next_wake is None:
            return NOTHING  # no worker free and nothing timed: nothing to decide
        return self._promote(now)

    def submit_many(self, tickets: Sequence[Ticket], now: float) -> Effects:
        """Queue several tickets at once."""
        push = self.backend.push
        tags = self.tags
        for ticket in tickets:
            job = ticket._job
            assert job is not None
            tag = ticket._tag
            push(ticket, job.host_key, ticket._priority, tag, now)
            if tag is not None:
                tags.add(tag)
        self.submitted += len(tickets)
        return self._promote(now)

    def settled(self, ticket: Ticket, ok: bool) -> None:
        """Count a ticket that ended at submit, without queueing (a fresh cache hit)."""
        self.submitted += 1
        if ticket._tag is not None:
            self.tags.add(ticket._tag)
        self._end(ticket, COMPLETED if ok else FAILED)

    # -- running ---------------------------------------------------------------

    def tick(self, now: float) -> Effects:
        """A wake-up came: start what became runnable."""
        self._wake = None
        return self._promote(now)

    def finished(
        self,
        ticket: Ticket,
        result: object,
        error: BaseException | None,
        retry_in: float | None,
        now: float,
    ) -> Effects:
        """A worker's run of ``ticket`` returned; ``retry_in``: the retry rule's wait, if any."""
        self.active.discard(ticket)
        self.backend.done(ticket)
        job = ticket._job
        tag = ticket._tag
        if ticket._phase == ABORTED:  # abort() counted and settled it already
            ticket._phase = DONE
            ticket._job = None
            return self._promote(now)
        if tag is not None:
            self.tags.stopped(tag)
        if retry_in is not None and not self.stop_retries:
            self.backend.retry_at(ticket, now + retry_in)
            if self.leases:  # handed back to the shared queue: this ticket ends uncounted
                ticket._phase = DONE
                ticket._job = None
            else:
                ticket._phase = WAITING
                self.between[ticket] = (result, error)
            return self._promote(now)
        # _end(), inlined: this is every request's path
        if error is None:
            self.completed += 1
            if tag is not None:
                self.tags.ended(tag, COMPLETED)
        else:
            self.failed += 1
            if tag is not None:
                self.tags.ended(tag, FAILED)
        ticket._phase = DONE
        ticket._job = None
        effects = self._promote(now)
        effects.settle = [(ticket, job, result, error)]
        return effects

    # -- withdrawing -------------------------------------------------------------

    def withdraw(self, ticket: Ticket) -> bool:
        """``future.cancel()``: take out a ticket that never ran; the owner cancels it."""
        if ticket._phase != WAITING or ticket in self.between:
            return False
        if not self.backend.remove(ticket):
            return False
        self._end(ticket, CANCELLED)
        return True

    def abort(self, ticket: Ticket, error: BaseException, *, cancel_waiting: bool) -> Effects:
        """End ``ticket`` wherever it is with ``error``.

        A ticket that never ran is cancelled instead when ``cancel_waiting``.
        A running one: its job is aborted, its future fails now, the run's
        outcome is dropped when it returns. An ended one: nothing.
        """
        effects = Effects()
        phase = ticket._phase
        if phase == WAITING and self.backend.remove(ticket):
            last = self.between.pop(ticket, None)
            if last is None and cancel_waiting:
                self._end(ticket, CANCELLED)
                effects.cancelled = [ticket]
            else:
                job = ticket._job
                self._end(ticket, FAILED)
                effects.settle = [(ticket, job, None, error)]
        elif phase == RUNNING:
            ticket._phase = ABORTED
            self.failed += 1
            tag = ticket._tag
            if tag is not None:
                self.tags.stopped(tag)
                self.tags.ended(tag, FAILED)
            job = ticket._job
            assert job is not None
            effects.aborts = [job]
            effects.settle = [(ticket, job, None, error)]
        return effects

    def cancel_tag(self, tag: str) -> tuple[int, Effects]:
        """``cancel_all(tag)``: end every waiting ticket of ``tag`` (see :meth:`end_detached`)."""
        taken = self.backend.cancel_tag(tag)
        return len(taken), self.end_detached(taken)

    def set_priority(self, ticket: Ticket, priority: int) -> bool:
        """Re-rank a waiting ticket (also one waiting out a retry delay)."""
        if ticket._phase != WAITING or not self.backend.set_priority(ticket, priority):
            return False
        ticket._priority = priority
        return True

    def set_priority_tag(self, tag: str, priority: int) -> int:
        """Re-rank every waiting ticket of ``tag``; returns how many."""
        taken = self.backend.set_priority_tag(tag, priority)
        for ticket in taken:
            ticket._priority = priority
        return len(taken)

    # -- stopping ----------------------------------------------------------------

    def close(self, cancel_pending: bool) -> Effects:
        """Accept nothing more; with ``cancel_pending``, end what waits and start no retry."""
        self.closed = True
        if not cancel_pending:
            return Effects()
        self.stop_retries = True
        return self.end_detached(self.backend.drain())

    def detach_all(self) -> list[Ticket]:
        """Take every waiting ticket out, uncounted (``shutdown(persist=...)``).

        No retry starts after this. Then either :meth:`end_detached` or
        :meth:`put_back` them.
        """
        self.stop_retries = True
        taken = self.backend.drain()
        self.held_back += len(taken)
        return taken

    def last_outcome(self, ticket: Ticket) -> Outcome | None:
        """The last run's outcome of a waiting ticket that ran before (None: never ran)."""
        return self.between.get(ticket)

    def end_detached(self, taken: list[Ticket], *, held_back: bool = False) -> Effects:
        """Count taken-out tickets as ended: cancelled if they never ran, else with their
        last outcome. ``taken`` itself becomes the list of futures to cancel (no copy)."""
        if held_back:
            self.held_back -= len(taken)
        effects = Effects()
        between = self.between
        if between:
            settle: list[Settle] = []
            ran = [t for t in taken if t in between]
            for ticket in ran:
                result, error = between.pop(ticket)
                settle.append((ticket, ticket._job, result, error))
                self._end(ticket, COMPLETED if error is None else FAILED)
            if ran:
                effects.settle = settle
                ran_set = set(ran)
                taken[:] = [t for t in taken if t not in ran_set]
        for ticket in taken:
            self._end(ticket, CANCELLED)
        effects.cancelled = taken
        return effects

    def put_back(self, taken: Sequence[Ticket], now: float) -> Effects:
        """Undo :meth:`detach_all` (the owner could not persist them): they wait again."""
        self.held_back -= len(taken)
        self.stop_retries = False
        backend = self.backend
        for ticket in taken:
            job = ticket._job
            assert job is not None
            backend.push(ticket, job.host_key, ticket._priority, ticket._tag, now)
        return self._promote(now)

    def fail_all(self, started: Sequence[Ticket], error: BaseException) -> Effects:
        """No worker can ever run anything (no thread can start): fail ``started``
        (handed out, never run) and everything waiting with ``error``."""
        effects = Effects()
        settle: list[Settle] = []
        backend = self.backend
        for ticket in started:
            self.active.discard(ticket)
            backend.done(ticket)
            if ticket._tag is not None:
                self.tags.stopped(ticket._tag)
            settle.append((ticket, ticket._job, None, error))
            self._end(ticket, FAILED)
        for ticket in backend.drain():
            self.between.pop(ticket, None)
            settle.append((ticket, ticket._job, None, error))
            self._end(ticket, FAILED)
        effects.settle = settle
        return effects

    # -- internals -----------------------------------------------------------------

    def _promote(self, now: float) -> Effects:
        """Start the best runnable tickets while workers are free; report the next wake-up."""
        backend = self.backend
        free = self.max_workers - len(self.active)
        taken = backend.take(now, free if free > 0 else 0)
        effects = Effects(taken)
        if taken:
            between = self.between
            active = self.active
            dropped = False
            for ticket in taken:
                # A retry's future is RUNNING already (its first run moved it there).
                if ticket._state == FUTURE_RUNNING or ticket.set_running_or_notify_cancel():
                    ticket._phase = RUNNING
                    active.add(ticket)
                    if ticket._tag is not None:
                        self.tags.started(ticket._tag)
                    if between:
                        between.pop(ticket, None)
                else:  # cancelled through Future.cancel() itself, bypassing withdraw()
                    backend.done(ticket)
                    self._end(ticket, CANCELLED)
                    dropped = True
            if dropped:
                taken[:] = [t for t in taken if t._phase == RUNNING]
        wake = backend.next_wake
        if wake is not None and (self._wake is None or wake < self._wake):
            self._wake = effects.wake_at = wake
        return effects

    def _end(self, ticket: Ticket, outcome: int) -> None:
        """Count the ticket's outcome (tag included) and drop what it no longer needs."""
        if outcome == COMPLETED:
            self.completed += 1
        elif outcome == FAILED:
            self.failed += 1
        else:
            self.cancelled += 1
        if ticket._tag is not None:
            self.tags.ended(ticket._tag, outcome)
        ticket._phase = DONE
        ticket._job = None
        ticket._entry = None

    def __repr__(self) -> str:
        return (
            f"<Dispatcher running={self.running}/{self.max_workers} waiting={len(self.backend)}"
            f"{' closed' if self.closed else ''}>"
        )
