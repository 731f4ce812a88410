"""RedisBackend: the dispatcher's queue-backend contract over the shared Redis queue.

It keeps :class:`~netstack.dispatch.backend.QueueBackend` (see its docstring)
with the queue's Lua scripts: ``push``/``push_many`` are one ``PUSH`` call,
``take`` is one ``EXCHANGE`` call that first records what was ``done`` (or
parked with ``retry_at``) since the last one, then leases up to ``limit``
items best first; ``set_limit`` gives a host its own slot count for every
process. Items are opaque: ``encode`` turns one into the JSON payload kept
in Redis, ``decode`` turns a leased payload back into an item.

For ``netstack worker`` (``leases_are_items=True``) the items are the leases
(``Popped``), decoded afresh on every lease; ``record`` ends one with the
outcome its producer reads, and ``recorded`` tells, after each ``take``,
which outcomes Redis kept (one per request: a late duplicate is dropped).

Differences the contract allows: the clock of leases, retries and pacing is
Redis' ``TIME`` (``now`` arguments are the caller's monotonic time and only
translate ``next_wake`` and ``retry_at``); a taken item not ``done`` within
the lease returns to the queue (at-least-once across processes).
"""

from __future__ import annotations

import itertools
import math
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from netstack.dispatch.backend import BackendStats
from netstack.distributed.ops import MOST_PER_CALL, Exchanged, Finished, Popped, Pushed, QueueOps

__all__ = ["RedisBackend"]

T = TypeVar("T")


class RedisBackend(Generic[T]):
    """The :class:`~netstack.dispatch.backend.QueueBackend` of one process over Redis."""

    def __init__(
        self,
        ops: QueueOps,
        encode: Callable[[T], str],
        decode: Callable[[Popped], T],
        *,
        worker: str | None = None,
        lease: float = 30.0,
        pace: str = "",
        leases_are_items: bool = False,
    ) -> None:
        self._ops = ops
        #: The pace of hosts whose jobs travel without one (a worker's own).
        self._pace = pace
        #: True: every lease is decoded afresh (a worker's items are the leases,
        #: whose attempt count grows); False: a leased item is the one pushed.
        self._fresh = leases_are_items
        #: What the last ``take`` did in Redis (epoch, aborts, dropped jobs), for a worker.
        self.exchanged: Exchanged | None = None
        #: Per request id of the last ``take``'s finished items: True if recorded,
        #: False if the request had already ended (another process recorded it).
        self.recorded: dict[int, bool] = {}
        self._encode = encode
        self._decode = decode
        self._worker = worker or f"backend:{uuid.uuid4().hex[:12]}"
        self._lease_ms = int(lease * 1000)
        self._ids: dict[T, int] = {}  # item -> its id in Redis, while it waits or runs
        self._items: dict[int, T] = {}
        self._hosts: dict[int, str] = {}
        self._finished: dict[int, Finished] = {}  # done (or retry_at) since the last take
        self._wake: float | None = None
        #: Epochs offered to Redis: this backend's random salt and a counter (unique
        #: like a uuid4 each, without a urandom call per take).
        self._salt = uuid.uuid4().hex[:16]
        self._epochs = itertools.count(1)

    # -- entering ---------------------------------------------------------------

    def push(self, item: T, host: str, priority: int, tag: str | None, now: float) -> None:
        self.push_many([(item, host, priority, tag)], now)

    def push_many(self, items: Sequence[tuple[T, str, int, str | None]], now: float) -> None:
        if not items:
            return
        pushes = [
            Pushed(host, priority, self._encode(item), tag) for item, host, priority, tag in items
        ]
        _, ids = self._ops.push(pushes, None, uuid.uuid4().hex)
        for (item, host, _, _), request_id in zip(items, ids, strict=True):
            self._remember(item, request_id, host)

    # -- running ----------------------------------------------------------------

    def take(
        self,
        now: float,
        limit: int,
        *,
        idle: bool = False,
        block: bool = False,
        ready: int | None = None,
    ) -> list[T]:
        """Record what finished since the last take, then lease up to ``limit`` items.

        ``idle`` (nothing came since the last look) and ``block`` (the caller
        waits on the wake list next) let Redis hand the wake token on; ``ready``
        (default ``limit``) is how many the caller starts at once, the only ones
        that may be of a paced host. On a Redis error the finished items stay
        recorded here for the next take.
        """
        finished = list(itertools.islice(self._finished.values(), MOST_PER_CALL))  # rest: next
        for f in finished:
            del self._finished[f.request_id]
        try:
            done = self._ops.exchange(
                self._worker,
                self._lease_ms,
                limit,
                finished,
                was_idle=idle,
                will_block=block,
                epoch=f"{self._salt}{next(self._epochs)}",  # never a known one: a lost
                # queue must look new
                pace=self._pace,
                ready=ready,
            )
        except Exception:
            self._finished = {f.request_id: f for f in finished} | self._finished
            raise
        self.exchanged = done
        self.recorded = {f.request_id: ok for f, ok in zip(finished, done.recorded, strict=True)}
        for f in finished:
            if f.counter != "retry" or self._fresh:
                self._forget(f.request_id)
        self._wake = None if done.next_due is None else now + done.next_due
        out = []
        for popped in done.popped:
            item = None if self._fresh else self._items.get(popped.request_id)
            if item is None:  # another process pushed it: decode the payload
                item = self._decode(popped)
                self._remember(item, popped.request_id, popped.host)
            out.append(item)
        return out

    def done(self, item: T) -> None:
        self.record(item)

    def record(self, item: T, outcome: str = "", *, failed: bool = False) -> None:
        """``done``, with the outcome its producer reads (JSON; "" when nobody waits)."""
        request_id = self._ids[item]
        counter = "failed" if failed else "completed"
        host = self._hosts.get(request_id, "")
        self._finished[request_id] = Finished(request_id, counter, outcome, host)

    def report(self, finished: Finished) -> None:
        """``record`` or ``retry_at`` as the worker's lease buffer wrote it down already."""
        self._finished[finished.request_id] = finished

    def unrecord(self, item: T) -> None:
        """Drop a finished item not recorded yet (its lease expired: it runs again elsewhere)."""
        request_id = self._ids.get(item)
        if request_id is not None and self._finished.pop(request_id, None) is not None:
            self._forget(request_id)

    def retry_at(self, item: T, due: float) -> None:
        request_id = self._ids[item]
        wait_ms = max(0, math.ceil((due - time.monotonic()) * 1000))  # never before due
        self._finished[request_id] = Finished(
            request_id, "retry", "", self._hosts.get(request_id, ""), wait_ms
        )

    @property
    def next_wake(self) -> float | None:
        return self._wake

    # -- changing what waits ------------------------------------------------------

    def remove(self, item: T) -> bool:
        request_id = self._ids.get(item)
        if request_id is None or request_id in self._finished:
            return False
        if self._ops.cancel([request_id])[0]:
            self._forget(request_id)
            return True
        return False

    def set_priority(self, item: T, priority: int) -> bool:
        request_id = self._ids.get(item)
        return request_id is not None and self._ops.set_priority(request_id, priority)

    def cancel_tag(self, tag: str) -> list[T]:
        taken = [self._items[i] for i in self._ops.cancel_tag(tag) if i in self._items]
        for item in taken:
            self._forget(self._ids[item])
        return taken

    def set_priority_tag(self, tag: str, priority: int) -> list[T]:
        return [
            self._items[i] for i in self._ops.set_priority_tag(tag, priority) if i in self._items
        ]

    def set_limit(self, host: str, limit: int | None) -> None:
        self._ops.set_limit(host, limit)

    def drain(self) -> list[T]:
        ids = sorted(i for i in self._items if i not in self._finished)
        taken = [i for i, ok in zip(ids, self._ops.cancel(ids), strict=True) if ok]
        items = [self._items[i] for i in taken]
        for request_id in taken:
            self._forget(request_id)
        return items

    # -- state --------------------------------------------------------------------

    def stats(self) -> BackendStats:
        client, key = self._ops.client, self._ops.key
        pipe = client.pipeline(transaction=False)
        pipe.zcard(key("q"))
        pipe.zcard(key("delayed"))
        pipe.zcard(key("leases"))
        pipe.zcard(key("paced"))
        queued, delayed, taken, held = pipe.execute()
        counts = self._ops.counts()
        return BackendStats(
            queued=max(0, counts["waiting"] - int(delayed)),
            delayed=int(delayed),
            taken=int(taken),
            ready_hosts=0 if not queued else 1,
            saturated_hosts=0,
            held_hosts=int(held),
        )

    def __len__(self) -> int:
        return self.stats().queued

    @property
    def delayed(self) -> int:
        """Items waiting out a retry delay (every process's)."""
        return int(self._ops.client.zcard(self._ops.key("delayed")))

    @property
    def empty(self) -> bool:
        """Nothing waits, queued or delayed (every process's)."""
        return self._ops.counts()["waiting"] == 0

    # -- bookkeeping ----------------------------------------------------------------

    def _remember(self, item: T, request_id: int, host: str) -> None:
        old = self._items.get(request_id)
        if old is not None:
            self._ids.pop(old, None)
        self._ids[item] = request_id
        self._items[request_id] = item
        self._hosts[request_id] = host

    def _forget(self, request_id: int) -> None:
        item = self._items.pop(request_id, None)
        if item is not None:
            self._ids.pop(item, None)
        self._hosts.pop(request_id, None)


if TYPE_CHECKING:
    from netstack.dispatch.backend import QueueBackend

    def _keeps_the_contract(backend: RedisBackend[object]) -> QueueBackend[object]:
        return backend  # mypy checks RedisBackend against the Protocol here
