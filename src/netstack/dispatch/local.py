"""LocalQueue: the in-process queue backend. Pure: no threads, no clock.

A :class:`~netstack.dispatch.queue.HostQueue` (order and per-host slots), a
:class:`~netstack.dispatch.timers.Timers` heap (delayed retries and hosts
held by politeness, both due at a time), an optional
:class:`~netstack.dispatch.pacer.Pacer` and :class:`~netstack.dispatch.aging.Aging`,
and, for tagged tickets only, the waiting members of each tag. It keeps the
:class:`~netstack.dispatch.backend.QueueBackend` contract; the ticket's
``_entry`` slot is its handle (the queue entry, :data:`DELAYED`, or None).
Items are :class:`~netstack.dispatch.ticket.Ticket` objects whose job gives
the host key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from netstack.dispatch.backend import BackendStats
from netstack.dispatch.queue import Entry, HostQueue
from netstack.dispatch.timers import Timers

if TYPE_CHECKING:
    from netstack.dispatch.aging import Aging
    from netstack.dispatch.pacer import Pacer
    from netstack.dispatch.ticket import Ticket

__all__ = ["DELAYED", "LocalQueue"]


class _Delayed:
    def __repr__(self) -> str:
        return "DELAYED"


#: The handle of a ticket waiting out a retry delay.
DELAYED: Final = _Delayed()


class LocalQueue:
    """The in-process :class:`~netstack.dispatch.backend.QueueBackend` of tickets."""

    __slots__ = (
        "_aging",
        "_delayed",
        "_due",
        "_pacer",
        "_queue",
        "_tagged",
        "_taken",
        "_timers",
        "next_wake",
    )

    def __init__(
        self, max_per_host: int, *, pacer: Pacer | None = None, aging: Aging | None = None
    ) -> None:
        self._queue: HostQueue[Ticket] = HostQueue(max_per_host)
        self._timers: Timers[Ticket | str] = Timers()
        self._due = self._timers.heap  # read inline on every take
        #: When something delayed or held becomes due (None: nothing is); kept current.
        self.next_wake: float | None = None
        self._pacer = pacer
        self._aging = aging
        self._delayed = 0
        self._taken = 0
        #: tag -> its tickets that wait (queued or delayed); tagged tickets only.
        self._tagged: dict[str, set[Ticket]] = {}

    @property
    def max_per_host(self) -> int:
        return self._queue.max_per_host

    @property
    def host_queue(self) -> HostQueue[Ticket]:
        """The order and slots (read-only use: counts for ``repr``)."""
        return self._queue

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def delayed(self) -> int:
        """Tickets waiting out a retry delay."""
        return self._delayed

    @property
    def empty(self) -> bool:
        """Nothing waits (queued or delayed)."""
        return not len(self._queue) and not self._delayed

    # -- entering -------------------------------------------------------------

    def push(self, item: Ticket, host: str, priority: int, tag: str | None, now: float) -> None:
        if self._pacer is not None:
            self._pace_push(host, now)
        aging = self._aging
        item._entry = self._queue.push(
            item, host, priority, 0 if aging is None else aging.base(now)
        )
        if tag is not None:
            self._tag(tag, item)

    def push_many(self, items: Sequence[tuple[Ticket, str, int, str | None]], now: float) -> None:
        push = self.push
        for item, host, priority, tag in items:
            push(item, host, priority, tag, now)

    # -- running --------------------------------------------------------------

    def take(self, now: float, limit: int) -> list[Ticket]:
        due = self._due
        if due and due[0][0] <= now:
            self._advance(now)
        out: list[Ticket] = []
        if limit <= 0 or not self._queue.ready_hosts:
            return out
        queue = self._queue
        pacer = self._pacer
        while limit:
            entry = queue.pop()
            if entry is None:
                break
            item = entry.item
            item._entry = None
            if pacer is not None:
                self._pace(entry.host.name, now)
            tag = item._tag
            if tag is not None:
                self._untag(tag, item)
            out.append(item)
            limit -= 1
        self._taken += len(out)
        return out

    def done(self, item: Ticket) -> None:
        job = item._job
        assert job is not None
        self._taken -= 1
        self._queue.done(job.host_key)

    def retry_at(self, item: Ticket, due: float) -> None:
        item._entry = DELAYED
        self._delayed += 1
        self._timers.push(due, item)
        self._rewake()
        if item._tag is not None:
            self._tag(item._tag, item)

    # -- changing what waits ----------------------------------------------------

    def remove(self, item: Ticket) -> bool:
        handle = item._entry
        if handle is None:
            return False
        if handle is DELAYED:
            self._delayed -= 1  # its timer finds it gone
        else:
            assert isinstance(handle, Entry)
            self._queue.remove(handle)
        item._entry = None
        if item._tag is not None:
            self._untag(item._tag, item)
        return True

    def set_priority(self, item: Ticket, priority: int) -> bool:
        handle = item._entry
        if handle is None:
            return False
        if handle is not DELAYED:  # a delayed one re-enters at its ticket's priority
            assert isinstance(handle, Entry)
            self._queue.set_priority(handle, priority)
        return True

    def cancel_tag(self, tag: str) -> list[Ticket]:
        members = list(self._tagged.get(tag, ()))
        for item in members:
            self.remove(item)
        return members

    def set_priority_tag(self, tag: str, priority: int) -> list[Ticket]:
        members = list(self._tagged.get(tag, ()))
        for item in members:
            self.set_priority(item, priority)
        return members

    def set_limit(self, host: str, limit: int | None) -> None:
        self._queue.set_limit(host, limit)

    def drain(self) -> list[Ticket]:
        items = self._queue.drain_items()
        for item in items:
            item._entry = None
        for timed in self._timers.clear():
            if isinstance(timed, str):
                self._queue.release(timed)
            elif timed._entry is DELAYED:
                timed._entry = None
                items.append(timed)
        self._delayed = 0
        self._tagged.clear()
        self._rewake()
        return items

    def stats(self) -> BackendStats:
        queue = self._queue
        return BackendStats(
            queued=len(queue),
            delayed=self._delayed,
            taken=self._taken,
            ready_hosts=queue.ready_hosts,
            saturated_hosts=queue.saturated_hosts,
            held_hosts=queue.held_hosts,
        )

    # -- internals -------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Move what is due: released hosts rejoin the ready ones, due retries the order."""
        queue = self._queue
        for timed in self._timers.pop_due(now):
            if isinstance(timed, str):
                queue.release(timed)
            elif timed._entry is DELAYED:
                self._delayed -= 1
                job = timed._job
                assert job is not None
                tag = timed._tag
                if tag is not None:
                    self._untag(tag, timed)
                self.push(timed, job.host_key, timed._priority, tag, now)
        self._rewake()

    def _pace(self, host: str, now: float) -> None:
        """A ticket of ``host`` starts: hold the host until its next start is due."""
        assert self._pacer is not None
        due = self._pacer.started(host, now)
        if due > now and self._queue.waiting(host):
            self._timers.push(due, host)
            self._queue.hold(host)
            self._rewake()

    def _pace_push(self, host: str, now: float) -> None:
        """Before a push for ``host``: hold it if its next start is not due yet."""
        assert self._pacer is not None
        due = self._pacer.due(host)
        if due is not None and due > now and not self._queue.is_held(host):
            self._timers.push(due, host)
            self._queue.hold(host)
            self._rewake()

    def _rewake(self) -> None:
        due = self._due
        self.next_wake = due[0][0] if due else None

    def _tag(self, tag: str, item: Ticket) -> None:
        members = self._tagged.get(tag)
        if members is None:
            members = self._tagged[tag] = set()
        members.add(item)

    def _untag(self, tag: str, item: Ticket) -> None:
        members = self._tagged.get(tag)
        if members is not None:
            members.discard(item)
            if not members:
                del self._tagged[tag]

    def __repr__(self) -> str:
        return f"<LocalQueue {self._queue!r} delayed={self._delayed}>"
