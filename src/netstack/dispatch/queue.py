"""HostQueue: a host-aware max-priority queue. Pure: no threads, no clock.

Entries run by ``(rank, seq)``, smallest first: ``rank`` is ``base - priority``
(``base`` is 0 unless the caller ages requests, see ``aging.py``), so larger
priority runs first, then submission order (``seq`` is a queue-wide counter
that an entry keeps for life, also when its priority changes). A host with
``max_per_host`` entries in flight (or its own limit, :meth:`HostQueue.set_limit`,
which may change at run time) is *saturated*: its entries wait without
blocking other hosts, and the best of them is dispatched as soon as
:meth:`HostQueue.done` frees a slot. A host may also be *held*
(:meth:`HostQueue.hold`, for politeness): it is not ready, and so not
dispatched, until :meth:`HostQueue.release`.

Structure: one binary heap per host and one heap of *ready* hosts (not
saturated, with waiting entries), keyed by each host's best entry. Heap items
are tuples ``(rank, seq, owner)``; ``seq`` is unique, so comparisons never
reach ``owner``. Removal and re-prioritisation are lazy: an item is live only
while its owner points back at it (``entry.key is item``, ``host.rkey is
item``); dead items are skipped when they reach a heap's top, and a heap is
rebuilt when dead items outnumber live ones, so every operation is amortised
O(log n) and memory stays within a constant factor of the live entries.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush, heapreplace
from typing import Generic, TypeVar

__all__ = ["Entry", "HostQueue"]

T = TypeVar("T")

#: Dead heap items tolerated beyond the live ones before a heap is rebuilt.
_SLACK = 16


class Entry(Generic[T]):
    """A queued item; the handle for :meth:`HostQueue.set_priority` and ``remove``."""

    __slots__ = ("host", "item", "key", "priority", "seq")

    def __init__(self, item: T, host: _Host[T], priority: int, seq: int) -> None:
        self.item = item
        self.host = host
        self.priority = priority
        self.seq = seq
        #: The live heap item while waiting; None once popped or removed.
        self.key: tuple[float, int, Entry[T]] | None = None

    @property
    def waiting(self) -> bool:
        """True while queued (not yet popped, not removed)."""
        return self.key is not None

    @property
    def host_key(self) -> str:
        return self.host.name

    def __repr__(self) -> str:
        state = "waiting" if self.key is not None else "off-queue"
        return f"<Entry #{self.seq} {self.host.name!r} priority={self.priority} {state}>"


class _Host(Generic[T]):
    """Per-host state: its heap of entries, in-flight count, ready-heap item."""

    __slots__ = ("cap", "heap", "held", "inflight", "live", "name", "rkey")

    def __init__(self, name: str, cap: int) -> None:
        self.name = name
        #: The in-flight limit of this host.
        self.cap = cap
        self.heap: list[tuple[float, int, Entry[T]]] = []
        self.live = 0
        self.inflight = 0
        self.held = False
        #: The live item in the ready-host heap, or None when not ready.
        self.rkey: tuple[float, int, _Host[T]] | None = None


class HostQueue(Generic[T]):
    """Max-priority queue with a per-host in-flight limit. Not thread-safe."""

    __slots__ = (
        "_held",
        "_hosts",
        "_len",
        "_limits",
        "_max",
        "_ready",
        "_saturated",
        "_seq",
        "ready_hosts",
    )

    def __init__(self, max_per_host: int) -> None:
        if max_per_host < 1:
            raise ValueError(f"max_per_host must be >= 1, got {max_per_host}")
        self._max = max_per_host
        self._hosts: dict[str, _Host[T]] = {}
        #: Per-host limits that differ from ``max_per_host`` (see :meth:`set_limit`).
        self._limits: dict[str, int] = {}
        self._ready: list[tuple[float, int, _Host[T]]] = []
        #: Hosts with waiting entries and a free slot: ``pop()`` returns one of
        #: theirs. Read-only for callers (an attribute: the workers read it per request).
        self.ready_hosts = 0
        self._saturated = 0
        self._held = 0
        self._len = 0
        self._seq = 0

    # -- queries ---------------------------------------------------------------

    def __len__(self) -> int:
        """Entries waiting (in flight ones are not counted)."""
        return self._len

    @property
    def max_per_host(self) -> int:
        return self._max

    def limit(self, host: str) -> int:
        """The in-flight limit of ``host`` (``max_per_host`` unless set_limit() changed it)."""
        return self._limits.get(host, self._max)

    @property
    def saturated_hosts(self) -> int:
        """Hosts with as many entries in flight as their limit allows."""
        return self._saturated

    @property
    def held_hosts(self) -> int:
        """Hosts held by :meth:`hold` and not yet released."""
        return self._held

    def is_held(self, host: str) -> bool:
        h = self._hosts.get(host)
        return h is not None and h.held

    def in_flight(self, host: str) -> int:
        h = self._hosts.get(host)
        return 0 if h is None else h.inflight

    def waiting(self, host: str) -> int:
        h = self._hosts.get(host)
        return 0 if h is None else h.live

    # -- operations ------------------------------------------------------------

    def push(self, item: T, host: str, priority: int, base: float = 0) -> Entry[T]:
        """Queue ``item`` for ``host`` at rank ``base - priority``; returns its handle."""
        h = self._hosts.get(host)
        if h is None:
            h = self._new_host(host)
        seq = self._seq
        self._seq = seq + 1
        entry = Entry(item, h, priority, seq)
        key = entry.key = (base - priority, seq, entry)
        heappush(h.heap, key)
        h.live += 1
        self._len += 1
        if h.heap[0] is key:
            self._rekey(h)
        return entry

    def pop(self) -> Entry[T] | None:
        """Take the best entry of any ready host and count it in flight; None if none."""
        ready = self._ready
        while ready:
            rkey = ready[0]
            h = rkey[2]
            if h.rkey is not rkey:
                heappop(ready)  # stale
                continue
            entry = heappop(h.heap)[2]  # a host's top is always live
            entry.key = None
            h.live -= 1
            self._len -= 1
            h.inflight += 1
            if h.inflight == h.cap:
                self._saturated += 1
            heap = h.heap
            if heap and heap[0][2].key is not heap[0]:
                self._clean_top(h)
            if h.live and h.inflight < h.cap and not h.held:
                # Still ready: re-key it in place, one sift instead of a pop and a push.
                top = heap[0]
                h.rkey = new = (top[0], top[1], h)
                heapreplace(ready, new)
            else:
                heappop(ready)
                h.rkey = None
                self.ready_hosts -= 1
            return entry
        return None

    def done(self, host: str) -> None:
        """A popped entry of ``host`` finished: free its slot."""
        h = self._hosts.get(host)
        if h is None or h.inflight == 0:
            raise ValueError(f"done({host!r}): no entry of that host is in flight")
        if h.inflight == h.cap:
            self._saturated -= 1
        h.inflight -= 1
        self._rekey(h)
        if not h.inflight and not h.live:
            self._forget_if_idle(h)

    def set_priority(self, entry: Entry[T], priority: int) -> bool:
        """Re-queue a waiting entry at ``priority``, keeping its ``seq``.

        Its rank moves by the priority change (an aged entry keeps its age).
        Returns False (and does nothing) if the entry is no longer waiting.
        """
        old = entry.key
        if old is None:
            return False
        if priority == entry.priority:
            return True
        h = entry.host
        rank = old[0] + entry.priority - priority
        entry.priority = priority
        key = entry.key = (rank, entry.seq, entry)
        heappush(h.heap, key)
        self._clean_top(h)
        self._compact(h)
        self._rekey(h)
        return True

    def remove(self, entry: Entry[T]) -> bool:
        """Drop a waiting entry (cancel). Returns False if it was not waiting."""
        if entry.key is None:
            return False
        h = entry.host
        entry.key = None
        h.live -= 1
        self._len -= 1
        self._clean_top(h)
        self._compact(h)
        self._rekey(h)
        self._forget_if_idle(h)
        return True

    def hold(self, host: str) -> None:
        """Keep ``host`` off the ready hosts until :meth:`release` (it may hold nothing yet)."""
        h = self._hosts.get(host)
        if h is None:
            h = self._new_host(host)
        if not h.held:
            h.held = True
            self._held += 1
            self._rekey(h)

    def release(self, host: str) -> None:
        """Undo :meth:`hold`: ``host``'s waiting entries may be dispatched again."""
        h = self._hosts.get(host)
        if h is None or not h.held:
            return
        h.held = False
        self._held -= 1
        self._rekey(h)
        self._forget_if_idle(h)

    def set_limit(self, host: str, limit: int | None) -> None:
        """Change ``host``'s in-flight limit now (None: back to ``max_per_host``).

        Entries already in flight keep running; a lower limit only delays the
        next dispatches of that host. For adaptive per-host concurrency.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if limit is None or limit == self._max:
            self._limits.pop(host, None)
            cap = self._max
        else:
            self._limits[host] = cap = limit
        h = self._hosts.get(host)
        if h is None or h.cap == cap:
            return
        if h.inflight >= h.cap:
            self._saturated -= 1
        h.cap = cap
        if h.inflight >= cap:
            self._saturated += 1
        self._rekey(h)

    def drain(self) -> list[Entry[T]]:
        """Remove every waiting entry; returns them in dispatch order.

        In-flight counts are kept: ``done()`` is still due for each.
        """
        keys = [k for h in self._hosts.values() for k in h.heap if k[2].key is k]
        keys.sort()
        for h in list(self._hosts.values()):
            h.heap = []
            h.live = 0
            h.rkey = None
            self._forget_if_idle(h)
        self._ready = []
        #: Hosts with waiting entries and a free slot: ``pop()`` returns one of
        #: theirs. Read-only for callers (an attribute: the workers read it per request).
        self.ready_hosts = 0
        self._len = 0
        entries = [k[2] for k in keys]
        for entry in entries:
            entry.key = None
        return entries

    def drain_items(self) -> list[T]:
        """Remove every waiting entry; returns their items in dispatch order.

        As :meth:`drain`, with one list allocated for the lot (for a bulk
        cancel of a huge queue): the heap items are sorted in place, then
        replaced by their items.
        """
        keys: list[object] = []
        for h in self._hosts.values():
            keys += [k for k in h.heap if k[2].key is k]
        keys.sort()  # (rank, seq, entry) tuples
        for h in list(self._hosts.values()):
            h.heap = []
            h.live = 0
            h.rkey = None
            self._forget_if_idle(h)
        self._ready = []
        self.ready_hosts = 0
        self._len = 0
        for i, key in enumerate(keys):
            entry: Entry[T] = key[2]  # type: ignore[index]
            entry.key = None
            keys[i] = entry.item
        return keys  # type: ignore[return-value]  # now the items

    # -- internals -------------------------------------------------------------

    def _clean_top(self, h: _Host[T]) -> None:
        heap = h.heap
        while heap and heap[0][2].key is not heap[0]:
            heappop(heap)

    def _compact(self, h: _Host[T]) -> None:
        if len(h.heap) > 2 * h.live + _SLACK:
            h.heap = [k for k in h.heap if k[2].key is k]
            heapify(h.heap)

    def _rekey(self, h: _Host[T]) -> None:
        """Make ``h``'s ready-heap item match its best entry and readiness."""
        rkey = h.rkey
        if h.live and h.inflight < h.cap and not h.held:
            top = h.heap[0]
            if rkey is not None and rkey[1] == top[1] and rkey[0] == top[0]:
                return
            h.rkey = new = (top[0], top[1], h)
            heappush(self._ready, new)
            if rkey is None:
                self.ready_hosts += 1
        elif rkey is not None:
            h.rkey = None
            self.ready_hosts -= 1
        else:
            return
        if len(self._ready) > 2 * self.ready_hosts + _SLACK:
            self._ready = [k for k in self._ready if k[2].rkey is k]
            heapify(self._ready)

    def _new_host(self, host: str) -> _Host[T]:
        h = self._hosts[host] = _Host(host, self._limits.get(host, self._max))
        return h

    def _forget_if_idle(self, h: _Host[T]) -> None:
        if not h.live and not h.inflight and not h.held and self._hosts.get(h.name) is h:
            del self._hosts[h.name]

    def __repr__(self) -> str:
        return (
            f"<HostQueue waiting={self._len} hosts={len(self._hosts)} "
            f"ready={self.ready_hosts} saturated={self._saturated} held={self._held}>"
        )
