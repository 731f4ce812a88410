"""Ticket: one job's future as the dispatcher tracks it.

A ``concurrent.futures.Future`` (so ``wait``, ``as_completed`` and
``asyncio.wrap_future`` work on it) plus the job, its priority, tag, phase
and the queue backend's handle. Memory matters: queues of 10^5-10^6 jobs are
normal. A plain Future costs about 1.6 KB, most of it the
``threading.Condition`` (and its RLock) that ``Future.__init__`` builds. A
Ticket does not call that ``__init__``: it sets the same attributes itself,
in ``__slots__``, and builds the Condition on first access (when a worker
starts the job, or something waits on it). ``_condition`` is a non-data
descriptor that creates the Condition and stores it in the instance dict,
which then answers every later read without a Python call. A ticket whose
Condition was never built has no waiter, so :func:`cancel_quietly` ends it
without building one (a bulk cancel of a million queued jobs allocates
nothing per job).

The two lists ``Future`` keeps are not built per queued job either (an empty
list is 56 bytes, a tenth of what a queued request may cost): ``_waiters``
(read by ``Future`` and ``concurrent.futures.wait`` only under the
Condition) is set when the Condition is built, before anyone can hold it;
``_done_callbacks`` is a property over the ``_callbacks`` slot (None until
a callback is added), and :meth:`Ticket._invoke_callbacks` skips it when
there is none.

Phases (mutated under the dispatcher's lock only): WAITING (in the queue
backend: queued, or waiting out a retry backoff), RUNNING (handed to a
worker), ABORTED (ended by ``abort`` while running: the run's outcome is
dropped), DONE (counted and being resolved, or resolved).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import CANCELLED_AND_NOTIFIED, FINISHED, PENDING
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from netstack.dispatch.job import Job

__all__ = [
    "ABORTED",
    "DONE",
    "RUNNING",
    "WAITING",
    "Outcome",
    "Ticket",
    "cancel_quietly",
    "finish_unseen",
    "resolve",
]

WAITING: Final = 0
RUNNING: Final = 2
ABORTED: Final = 3
DONE: Final = 4

Outcome = tuple[object, BaseException | None]
"""A run's ``(result, error)``."""


#: Serialises the first build of a ticket's Condition (once per started or awaited ticket).
_BUILD = threading.Lock()


class _LazyCondition:
    """``Ticket._condition``: created on first read, then read from the instance dict.

    ``_waiters`` is set before the Condition is published: whoever holds the
    Condition finds the list, and two threads racing here share one of each.
    """

    def __get__(self, ticket: object, owner: type | None = None) -> threading.Condition:
        if ticket is None:
            raise AttributeError("_condition")
        with _BUILD:
            fields = ticket.__dict__
            cond: threading.Condition | None = fields.get("_condition")
            if cond is None:
                ticket._waiters = []  # type: ignore[attr-defined]
                cond = fields["_condition"] = threading.Condition()
                ticket._watched = True  # type: ignore[attr-defined]
        return cond


class Ticket(Future[Any]):
    """The future of one job, with what the dispatcher needs to know of it."""

    # Future.__init__ sets _state, _result, _exception, _waiters (here: set with
    # the Condition) and _done_callbacks (here: a property over _callbacks).
    __slots__ = (
        "_callbacks",
        "_entry",
        "_exception",
        "_job",
        "_phase",
        "_priority",
        "_result",
        "_state",
        "_tag",
        "_waiters",
        "_watched",
        "request_id",
    )

    _callbacks: list[Any] | None
    _condition = _LazyCondition()

    def __init__(
        self, job: Job | None = None, request_id: int = 0, priority: int = 1, tag: str | None = None
    ) -> None:
        # Future.__init__ is deliberately not called: see the module docstring.
        self._state = PENDING
        self._result = None
        self._exception = None
        self._callbacks = None
        self._watched = False
        self._job = job
        #: The queue backend's handle while the job waits there (its own business).
        self._entry: object = None
        self._priority = priority
        self._phase = WAITING
        self._tag = tag
        #: Unique in the process; the ``request_id`` of this job's log events.
        self.request_id = request_id

    @property
    def _done_callbacks(self) -> list[Any]:
        """``Future``'s callback list, built on first use (under the Condition, or before
        anyone else holds the ticket)."""
        callbacks = self._callbacks
        if callbacks is None:
            callbacks = self._callbacks = []
        return callbacks

    @_done_callbacks.setter
    def _done_callbacks(self, callbacks: list[Any]) -> None:
        self._callbacks = callbacks

    def _invoke_callbacks(self) -> None:
        """``Future._invoke_callbacks``, without building an empty list to loop over."""
        if self._callbacks:
            Future._invoke_callbacks(self)  # type: ignore[attr-defined]

    @property
    def job(self) -> Job | None:
        """The job, until the ticket ends (then None: the future keeps no job alive)."""
        return self._job

    def result(self, timeout: float | None = None) -> Any:
        """``Future.result``; an ended ticket answers without taking (or building) its lock."""
        if self._state == FINISHED and self._exception is None:
            return self._result  # FINISHED is final; ``_result`` was set before it
        return Future.result(self, timeout)


def resolve(future: Future[Any], result: object, error: BaseException | None) -> bool:
    """Resolve ``future`` with ``error`` if given, else ``result``; False if already resolved.

    Its done-callbacks run here: call it without holding a dispatcher lock.
    """
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        return False
    return True


def finish_unseen(ticket: Ticket, result: object) -> None:
    """Resolve a ticket nobody has seen yet (no waiter, no Condition) with ``result``.

    What ``set_result`` does, without building the Condition: the state and
    result through the standard ``Future`` fields, then the done-callbacks
    attached so far. For a job settled at submit (a fresh cache hit), before
    its future is returned to anyone.
    """
    ticket._result = result
    ticket._state = FINISHED
    if ticket._callbacks:
        ticket._invoke_callbacks()


def cancel_quietly(future: Future[Any]) -> None:
    """Cancel a future that no worker will ever see, and wake its waiters.

    ``Future.cancel()`` alone leaves it CANCELLED, which ``wait()`` and
    ``as_completed()`` do not count as done until
    ``set_running_or_notify_cancel()`` moves it to CANCELLED_AND_NOTIFIED.
    A :class:`Ticket` nobody ever waited on (its Condition was never built)
    goes there directly, without building one; its done-callbacks still run.
    """
    if isinstance(future, Ticket) and not future._watched:
        if future._state != PENDING:
            return
        future._state = CANCELLED_AND_NOTIFIED
        future._invoke_callbacks()
        return
    if Future.cancel(future):
        future.set_running_or_notify_cancel()
