"""LeaseBuffer: the dispatcher backend of ``netstack worker``; its items are leases.

A worker runs :class:`~netstack.dispatch.state.Dispatcher` and
:class:`~netstack.dispatch.pool.WorkerPool` over this
:class:`~netstack.dispatch.backend.LeasedBackend`. The worker's fetcher
thread leases requests from Redis (``RedisBackend.take``, one ``EXCHANGE``
for many) and :meth:`add` s them here; the dispatcher's ``take`` hands them
out without I/O (it runs under the pool's lock). How a lease ended goes to
the *outbox*: :meth:`finish` (final outcome) or ``retry_at`` (run again
later; the wait is in Redis). The fetcher's next exchange records the
outbox in Redis and leases as many requests as the outbox freed threads.

Order, per-host slots, pacing and aging were applied by Redis when it
leased; here the ready leases wait in the order they came. ``done`` frees
nothing: the host slot in Redis is held until the outcome is recorded.

The outbox, ``free`` and ``returning`` are guarded by the worker's
condition (``cond``), which is notified when something ends; the
dispatcher calls ``retry_at`` under the pool's lock, so the lock order is
pool, then worker, never the other way.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from netstack.dispatch.backend import BackendStats
from netstack.distributed.ops import Finished, Popped

__all__ = ["LeaseBuffer"]

T = TypeVar("T")


class LeaseBuffer(Generic[T]):
    """Leases fetched from Redis, waiting for a thread, and the outcomes waiting for Redis."""

    #: ``retry_at`` hands the item back to Redis: the dispatcher keeps nothing of it.
    leases = True

    def __init__(
        self,
        cond: threading.Condition,
        lease_of: Callable[[T], Popped],
        give_back: Callable[[list[int]], int],
        *,
        free: int,
        lease: float,
    ) -> None:
        self._cond = cond
        self._lease_of = lease_of
        self._give_back = give_back
        self._lease = lease
        self._ready: deque[T] = deque()
        #: Ended leases for the next exchange: (item, what to record, deadline).
        #: Past its deadline an outcome is not worth recording (the lease expired).
        self.outbox: list[tuple[T, Finished, float]] = []
        #: When the oldest outbox entry arrived (monotonic).
        self.since = 0.0
        #: Threads holding no lease (what the next exchange may lease).
        self.free = free
        #: Request ids given back at stop: how they end is not recorded.
        self.returning: set[int] = set()
        #: The outbox size at which an ending lease wakes the fetcher (set by it before it
        #: waits; the first entry always wakes it, to start the linger clock).
        self.wake_at = 1

    # -- fed by the worker's fetcher -----------------------------------------------

    def add(self, items: Sequence[T]) -> None:
        """Leases the fetcher got: they wait here for the dispatcher's ``take``."""
        self._ready.extend(items)

    # -- the dispatcher's side (under the pool's lock) --------------------------------

    def take(self, now: float, limit: int) -> list[T]:
        ready = self._ready
        if not ready or limit <= 0:
            return []
        if limit >= len(ready):
            out = list(ready)
            for _ in out:
                ready.popleft()
            return out
        return [ready.popleft() for _ in range(limit)]

    def done(self, item: T) -> None:
        """Nothing to free here: the lease holds its host slot until its end is recorded."""

    def retry_at(self, item: T, due: float) -> None:
        """Record "run again at ``due``" (the wait is in Redis, holding no thread)."""
        popped = self._lease_of(item)
        wait_ms = max(0, math.ceil((due - time.monotonic()) * 1000))  # never before due
        self._end(item, Finished(popped.request_id, "retry", "", popped.host, wait_ms))

    def finish(self, item: T, record: str, *, failed: bool) -> None:
        popped = self._lease_of(item)
        counter = "failed" if failed else "completed"
        self._end(item, Finished(popped.request_id, counter, record, popped.host))

    def give_back(self, items: Sequence[T]) -> int:
        """Give back leases whose end is not in the outbox; how they end is then not recorded."""
        with self._cond:
            ended = {finished.request_id for _, finished, _ in self.outbox}
            ids = [i for i in (self._lease_of(item).request_id for item in items) if i not in ended]
            self.returning.update(ids)
        return self._give_back(ids) if ids else 0

    @property
    def next_wake(self) -> float | None:
        return None  # retries and politeness holds wait in Redis

    @property
    def delayed(self) -> int:
        return 0

    @property
    def empty(self) -> bool:
        return not self._ready

    def remove(self, item: T) -> bool:
        """Take out a lease that has not started (a producer aborted it)."""
        try:
            self._ready.remove(item)
        except ValueError:
            return False
        return True

    def set_priority(self, item: T, priority: int) -> bool:
        return False  # a leased request runs next; its producer re-ranks waiting ones

    def cancel_tag(self, tag: str) -> list[T]:
        return []

    def set_priority_tag(self, tag: str, priority: int) -> list[T]:
        return []

    def set_limit(self, host: str, limit: int | None) -> None:
        """Host limits live in Redis (``netstack worker --per-host``)."""

    def push(self, item: T, host: str, priority: int, tag: str | None, now: float) -> None:
        raise TypeError("a worker's lease buffer is fed by its fetcher, not by submit")

    def push_many(self, items: Sequence[tuple[T, str, int, str | None]], now: float) -> None:
        raise TypeError("a worker's lease buffer is fed by its fetcher, not by submit")

    def drain(self) -> list[T]:
        out = []
        ready = self._ready
        while ready:
            out.append(ready.popleft())
        return out

    def stats(self) -> BackendStats:
        return BackendStats(
            queued=len(self._ready),
            delayed=0,
            taken=0,
            ready_hosts=0,
            saturated_hosts=0,
            held_hosts=0,
        )

    def __len__(self) -> int:
        return len(self._ready)

    # -- internals ---------------------------------------------------------------------

    def _end(self, item: T, finished: Finished) -> None:
        with self._cond:
            self.free += 1
            outbox = self.outbox
            if finished.request_id in self.returning:  # given back at stop
                self.returning.discard(finished.request_id)
            else:
                now = time.monotonic()
                if not outbox:
                    self.since = now
                outbox.append((item, finished, now + self._lease))
                if 1 < len(outbox) < self.wake_at:
                    return  # the fetcher waits for more company (or the linger)
            self._cond.notify_all()


if TYPE_CHECKING:
    from netstack.dispatch.backend import LeasedBackend

    def _keeps_the_contract(buffer: LeaseBuffer[object]) -> LeasedBackend[object]:
        return buffer  # mypy checks LeaseBuffer against the Protocol here
