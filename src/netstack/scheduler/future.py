"""RequestFuture: the public future of one request.

A :class:`~netstack.dispatch.ticket.Ticket` (so a real
``concurrent.futures.Future``, built lazily to stay small in huge queues;
see ``netstack.dispatch.ticket``) that also knows its scheduler, for
``set_priority``, ``cancel`` and ``abort``. Every state change goes through
the standard ``Future`` methods, so ``concurrent.futures.wait``,
``as_completed`` and ``asyncio.wrap_future`` see it as any Future.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future
from concurrent.futures._base import PENDING
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from netstack.dispatch.ticket import WAITING, Ticket, resolve

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Generator

    from netstack.scheduler.job import Job
    from netstack.scheduler.owner import FutureOwner as Scheduler

__all__ = ["RequestFuture", "resolve"]

T = TypeVar("T")


class RequestFuture(Ticket, Generic[T]):
    """The future of one request: resolves to its result, or raises its HttpError.

    Generic in what it resolves to: ``Scheduler.submit`` and ``HttpRequest.request``
    give a ``RequestFuture[HttpResponse]``, ``request_in_stream`` a
    ``RequestFuture[int]`` (the status code). Beyond ``Future``: ``url`` (as
    submitted), ``priority``, ``tag``, ``set_priority(p)``, ``abort()`` and
    ``request_id``; ``cancel()`` takes a waiting request out of the queue in
    O(log n) and returns False once it runs.
    """

    __slots__ = ("_scheduler", "url")

    if TYPE_CHECKING:  # Future's own methods, typed with what this future resolves to

        def result(self, timeout: float | None = None) -> T: ...

        def add_done_callback(self, fn: Callable[[RequestFuture[T]], object]) -> None: ...

    def __init__(
        self,
        scheduler: Scheduler | None = None,
        job: Job | None = None,
        request_id: int = 0,
        priority: int = 1,
        tag: str | None = None,
    ) -> None:
        # Ticket.__init__, inlined (one Python call less per request): Future's five
        # attributes, then the dispatcher's.
        self._state = PENDING
        self._result = None
        self._exception = None
        self._callbacks = None
        self._watched = False
        self._job = job
        self._entry = None
        self._priority = priority
        self._phase = WAITING
        self._tag = tag
        self.request_id = request_id
        self._scheduler = scheduler
        #: The URL as submitted (before redirects; ``HttpResponse.url`` is the final one).
        self.url: str = job.url if job is not None else ""

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
        if scheduler is None or not scheduler.jobs.withdraw(self):
            return super().cancel()
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
            return scheduler.jobs.abort(self, cancel_waiting=False)
        from netstack.errors import ABORTED, HttpError

        return resolve(self, None, HttpError.of(ABORTED))

    def __await__(self) -> Generator[Any, None, T]:
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
        if self.cancelled():  # as asyncio.wrap_future reports it
            import asyncio

            raise asyncio.CancelledError
        return self.result()

    def __repr__(self) -> str:
        return f"<RequestFuture #{self.request_id} priority={self._priority} state={self._state}>"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
