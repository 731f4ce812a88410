"""Timers: things due at a monotonic time, in due order. Pure: no threads, no clock.

The scheduler keeps two kinds here: a request waiting out its retry backoff
(due: re-enter the queue) and a host held by politeness (due: back among the
ready hosts). One timer thread sleeps until :attr:`Timers.next_due` and takes
what :meth:`Timers.pop_due` returns; see ``pool.py``. Items are never removed
early: whoever handles a due item checks whether it still applies (a
cancelled backoff, for instance), so every operation is O(log n).
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Generic, TypeVar

__all__ = ["Timers"]

T = TypeVar("T")


class Timers(Generic[T]):
    """A min-heap of ``(due, seq, item)``: ``seq`` keeps equal due times in push order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        #: ``(due, seq, item)``, a heap: ``heap[0][0]`` is the next due time (read-only use).
        self._heap: list[tuple[float, int, T]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def heap(self) -> list[tuple[float, int, T]]:
        """The heap itself, for a caller that checks ``heap and heap[0][0] <= now`` inline."""
        return self._heap

    @property
    def next_due(self) -> float | None:
        """The earliest due time, or None when empty."""
        heap = self._heap
        return heap[0][0] if heap else None

    def push(self, due: float, item: T) -> None:
        """Schedule ``item`` at ``due``."""
        seq = self._seq
        self._seq = seq + 1
        heappush(self._heap, (due, seq, item))

    def pop_due(self, now: float) -> list[T]:
        """Remove and return the items due at or before ``now``, earliest first."""
        heap = self._heap
        out: list[T] = []
        while heap and heap[0][0] <= now:
            out.append(heappop(heap)[2])
        return out

    def clear(self) -> list[T]:
        """Remove and return every item, earliest first."""
        items = [entry[2] for entry in sorted(self._heap)]
        self._heap.clear()  # the same list: callers may hold it (see ``heap``)
        return items

    def __repr__(self) -> str:
        return f"<Timers {len(self._heap)} next_due={self.next_due}>"
