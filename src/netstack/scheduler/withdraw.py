"""Withdrawals: taking requests out before they run, one at a time or all at once.

``future.cancel()``, ``HttpRequest.destroy()`` (``_abort``), ``cancel_all(tag)``
and ``shutdown(cancel_pending=True | persist=PATH)`` all come here. A request
is *detachable* while it waits: in the queue, or in the ticker waiting out a
retry backoff. Detaching it (under the lock) takes it off both, uncounted;
then it is counted and forgotten (``_end_detached``, under the lock) and
finally resolved (``_finish_detached``, outside it): cancelled if it never
ran, else with its last attempt's outcome. ``shutdown(persist=...)`` writes
the detached requests between the two steps, and re-queues them if it cannot.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import InvalidStateError
from typing import TYPE_CHECKING, Any

from netstack.errors import ABORTED, HttpError
from netstack.log import log_event
from netstack.scheduler.future import ABORTED as PHASE_ABORTED
from netstack.scheduler.future import (
    BACKOFF,
    RUNNING,
    WAITING,
    RequestFuture,
    cancel_withdrawn,
    resolve,
)
from netstack.scheduler.pool import Outcome, WorkerPool
from netstack.scheduler.tags import CANCELLED, COMPLETED, FAILED

if TYPE_CHECKING:
    from netstack.scheduler.queue import Entry

__all__ = ["Detached", "Withdrawals"]

_INFO = logging.INFO

Detached = list[tuple[RequestFuture, Outcome | None]]
"""Detached requests with their last outcome (None: never ran)."""


class Withdrawals(WorkerPool):
    """Cancel, abort and drain waiting requests; the base of :class:`Scheduler`."""

    def _cancel_tagged(self, tag: str) -> int:
        """``Scheduler.cancel_all``: detach, count and resolve the waiting members of ``tag``."""
        with self._lock:
            taken = [(f, self._detach(f)) for f in self._tags.members(tag) if self._detachable(f)]
            self._end_detached(taken)
        self._finish_detached(taken)
        return len(taken)

    def _withdraw(self, future: RequestFuture) -> bool:
        """Take a waiting request out of the queue; True if the caller must cancel it."""
        with self._lock:
            if future._phase != WAITING or future._entry is None or future in self._between:
                return False  # running, ended, or between attempts (it has started)
            self._queue.remove(future._entry)
            if self._full_waiters:
                self._not_full.notify()
            self._end(future, CANCELLED)
            return True

    def _abort(
        self,
        future: RequestFuture,
        *,
        cancel_waiting: bool = True,
        error: BaseException | None = None,
    ) -> bool:
        """Interrupt a request (``HttpRequest.destroy()``, ``RequestFuture.abort()``).

        Waiting: cancelled (failed with 2300042 if between attempts, or
        without ``cancel_waiting``). Running: ``job.abort()`` and the future
        fails now with HttpError 2300042; the worker and the host slot are
        freed when ``run()`` returns, and its outcome is dropped. Ended:
        nothing, and False. ``error`` replaces 2300042 (a total_timeout: 2300028).
        """
        job = None
        started = False
        with self._lock:
            phase = future._phase
            if self._detachable(future):
                started = future in self._between or not cancel_waiting
                job = future._job if future in self._between else None
                self._detach(future)
                self._end(future, FAILED if started else CANCELLED)
            elif phase == RUNNING:
                future._phase = PHASE_ABORTED
                self._failed += 1
                tag = future._tag
                if tag is not None:
                    self._tags.stopped(tag)
                    self._tags.ended(tag, future, FAILED)
                job = future._job
            else:
                return False
        if phase in (WAITING, BACKOFF) and not started:
            cancel_withdrawn(future)
            return True
        if job is not None and phase == RUNNING:
            try:
                job.abort()
            except Exception as exc:  # abort() must not keep the future pending
                log_event(_INFO, "abort_failed", request_id=future.request_id, error=repr(exc))
        if error is None:
            error = HttpError.of(ABORTED)
        try:
            future.set_exception(error)
        except InvalidStateError:
            return False
        if job is not None:
            self._log_failed(future, job, error)
        return True

    def _detachable(self, future: RequestFuture) -> bool:
        """Under the lock: waiting in the queue, or waiting out a backoff."""
        phase = future._phase
        return (phase == WAITING and future._entry is not None) or phase == BACKOFF

    def _detach(self, future: RequestFuture) -> Outcome | None:
        """Under the lock: take a detachable request off the queue or the ticker.

        Returns the last attempt's outcome if it ran before, else None. The
        request stays uncounted (WAITING, no entry): nothing else touches it.
        """
        if future._phase == BACKOFF:
            self._backing_off -= 1
            if self._shutdown and not self._backing_off:
                self._idle = 0
                self._wakeup.notify_all()  # workers kept only by backoffs may leave
        elif future._entry is not None:
            self._queue.remove(future._entry)
            if self._full_waiters:
                self._not_full.notify()
        future._phase = WAITING
        future._entry = None
        return self._between.pop(future, None)

    def _end_detached(self, taken: Detached) -> None:
        """Under the lock: count detached requests (cancelled, or their last outcome)."""
        for future, last in taken:
            if last is None:
                self._end(future, CANCELLED)
            else:
                self._end(future, COMPLETED if last[1] is None else FAILED)

    def _finish_detached(self, taken: Detached) -> None:
        """Outside the lock: cancel them, or resolve them with their last outcome."""
        for future, last in taken:
            if last is None:
                cancel_withdrawn(future)
                continue
            resolve(future, *last)

    def _detach_all(self) -> Detached:
        """Under the lock: detach every waiting request (shutdown); no retry starts after."""
        self._stop_retries = True
        taken: Detached = [(e.item, self._between.pop(e.item, None)) for e in self._queue.drain()]
        for future, _ in taken:
            future._entry = None
        if self._full_waiters:
            self._not_full.notify_all()
        backoff = [f for f in self._between if f._phase == BACKOFF]
        taken += [(f, self._detach(f)) for f in backoff]
        for item in self._ticker.clear():  # nothing is left to pace or retry
            if isinstance(item, str):
                self._queue.release(item)
        return taken

    def _records(self, taken: Detached) -> list[dict[str, Any]]:
        """Under the lock: the persisted form of each taken request that can be persisted."""
        from netstack.scheduler.persist import record

        out = []
        for future, _ in taken:
            job = future._job
            options = getattr(job, "options", None)
            if job is not None and options is not None:
                out.append(record(job.url, options, future._priority, future._tag))
        return out

    def _persist(
        self,
        path: str | os.PathLike[str],
        taken: Detached,
        records: list[dict[str, Any]],
    ) -> None:
        """Write ``records``; then count ``taken`` as ended, or, if that fails, re-queue them."""
        from netstack.scheduler.persist import write_queue

        try:
            written = write_queue(path, records)
        except BaseException:
            stranded: list[Entry[RequestFuture]] = []
            with self._lock:
                for future, last in taken:
                    if last is not None:
                        self._between[future] = last
                    job = future._job
                    assert job is not None
                    if self._pacer is not None:
                        self._pace_push(job.host_key)
                    future._entry = self._queue.push(
                        future, job.host_key, future._priority, self._base()
                    )
                    stranded += self._wake_or_spawn()
                self._stop_retries = False
            if stranded:
                self._fail_stranded(stranded)
            taken.clear()
            raise
        with self._lock:
            self._end_detached(taken)
        log_event(
            _INFO, "queue_persisted", scheduler=self._name, path=os.fspath(path), requests=written
        )
