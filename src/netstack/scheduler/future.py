"""RequestFuture: a ``concurrent.futures.Future`` that knows its queue entry.

Memory matters here: queues of 10^5-10^6 requests are normal. A plain Future
costs about 1.6 KB, most of it the ``threading.Condition`` (and its RLock)
built by ``Future.__init__``. A RequestFuture does not call that ``__init__``:
it sets the same attributes itself, in ``__slots__``, and builds the Condition
on first access, which for a queued request is when a worker starts it (or
something waits on it). ``_condition`` is a non-data descriptor that creates
the Condition and stores it in the instance dict, which then answers every
later read without a Python call (``Future`` reads it on each state change).
The instance dict (Future subclasses always have one) is created only then,
so a queued request does not pay for it.
Every state change still goes through the standard ``Future`` methods, so
``concurrent.futures.wait``, ``as_completed`` and ``asyncio.wrap_future`` see
and wake up on it as on any Future.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import PENDING
from typing import TYPE_CHECKING, Any

from netstack.log import enabled, log_event

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Generator

    from netstack.scheduler.job import Job
    from netstack.scheduler.queue import Entry
    from netstack.scheduler.scheduler import Scheduler

__all__ = ["RequestFuture"]


# Where a request is, as the scheduler sees it (mutated under its lock only).
WAITING = 0  #: in the queue
RUNNING = 2  #: taken by a worker (marked running under the lock): job.run() in progress
ABORTED = 3  #: _abort() resolved it while running; run()'s outcome is dropped
DONE = 4  #: resolved (or being resolved) by its owner
BACKOFF = 5  #: between two attempts, waiting out its retry backoff in the scheduler's timers


class _LazyCondition:
    """``RequestFuture._condition``: created on first read, then read from the instance dict.

    A non-data descriptor: once the instance dict holds ``_condition``, it
    wins over this descriptor, so only the first read runs :meth:`__get__`.
    """

    def __get__(self, future: object, owner: type | None = None) -> threading.Condition:
        if future is None:
            raise AttributeError("_condition")
        # Two threads racing here may both build one; setdefault (atomic) keeps the
        # first for both. No lock: a lock held while building a Condition is a
        # lock other threads queue on whenever the holder loses the GIL.
        cond: threading.Condition = future.__dict__.setdefault("_condition", threading.Condition())
        return cond


class RequestFuture(Future[Any]):
    """The future of one request: resolves to its result, or raises its HttpError.

    Beyond ``Future``: ``priority``, ``set_priority(p)`` and ``request_id``;
    ``cancel()`` takes a waiting request out of the queue in O(log n) and
    returns False once it runs.
    """

    # The first five are the attributes Future.__init__ sets (CPython 3.10-3.13);
    # as slots they need no per-instance dict.
    __slots__ = (
        "_done_callbacks",
        "_entry",
        "_exception",
        "_job",
        "_phase",
        "_priority",
        "_result",
        "_scheduler",
        "_state",
        "_tag",
        "_waiters",
        "request_id",
    )

    _done_callbacks: list[Callable[[Future[Any]], object]]
    _condition = _LazyCondition()

    def __init__(
        self,
        scheduler: Scheduler | None = None,
        job: Job | None = None,
        request_id: int = 0,
        priority: int = 1,
        tag: str | None = None,
    ) -> None:
        # Future.__init__ is deliberately not called: see the module docstring.
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks = []
        self._scheduler = scheduler
        self._job = job
        self._entry: Entry[RequestFuture] | None = None
        self._priority = priority
        self._phase = WAITING
        self._tag = tag
        #: Unique in the process; the ``request_id`` of this request's log events.
        self.request_id = request_id

    @property
    def priority(self) -> int:
        """The current priority, 1..1000; larger runs first."""
        return self._priority

    @property
    def tag(self) -> str | None:
        """The request's ``tag`` option (None when untagged)."""
        return self._tag

    def set_priority(self, priority: int) -> None:
        """Re-queue this request at ``priority`` (1..1000) if it is still waiting.

        It keeps its submission order among requests of its new priority.
        Raises HttpError 401 for a value out of range; has no effect once the
        request started or ended.
        """
        scheduler = self._scheduler
        if scheduler is None:
            from netstack.validation import check_priority

            check_priority(priority)
            self._priority = priority
            return
        scheduler.set_priority(self, priority)

    def cancel(self) -> bool:
        """Cancel a request that has not started; False once it runs or ended.

        A request between two attempts (see ``RetryPolicy``) has started: False.
        """
        scheduler = self._scheduler
        if scheduler is None or not scheduler._withdraw(self):
            return super().cancel()
        cancel_withdrawn(self)
        return True

    def abort(self) -> bool:
        """End this request now with HttpError 2300042, wherever it is; False if it had ended.

        A waiting or backing-off request never runs; a running one has its
        connection shut (it is not reused) and frees its worker and host slot.
        """
        if self.done():
            return False
        scheduler = self._scheduler
        if scheduler is not None:
            return scheduler._abort(self, cancel_waiting=False)
        from netstack.errors import ABORTED, HttpError

        return resolve(self, None, HttpError.of(ABORTED))

    def __await__(self) -> Generator[Any, None, Any]:
        """``await future`` in asyncio; cancelling the awaiting task aborts the request."""
        if not self.done():
            import asyncio

            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()

            def wake(_: Future[Any]) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(_wake, waiter)

            self.add_done_callback(wake)
            try:
                yield from waiter
            except BaseException:  # asyncio.CancelledError: the task was cancelled
                self.abort()
                raise
        return self.result()

    def __repr__(self) -> str:
        return f"<RequestFuture #{self.request_id} priority={self._priority} state={self._state}>"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def resolve(future: Future[Any], result: object, error: BaseException | None) -> bool:
    """Resolve ``future`` with ``error`` if given, else ``result``; False if already resolved.

    Its done-callbacks run here: call it without holding a scheduler lock.
    """
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        return False
    return True


def cancel_withdrawn(future: Future[Any]) -> None:
    """Cancel a future that no worker will ever see, and wake its waiters.

    ``Future.cancel()`` alone leaves it CANCELLED, which ``wait()`` and
    ``as_completed()`` do not count as done until
    ``set_running_or_notify_cancel()`` moves it to CANCELLED_AND_NOTIFIED;
    a worker does that for a future it dequeues, so for one taken out of the
    queue it is done here.
    """
    Future.cancel(future)
    future.set_running_or_notify_cancel()


def log_request(level: int, event: str, future: RequestFuture, job: Job, **extra: object) -> None:
    """One state change of a request, with the fields every such event carries."""
    if enabled(level):
        log_event(
            level,
            event,
            request_id=future.request_id,
            url=job.url,
            priority=future._priority,
            **extra,
        )
