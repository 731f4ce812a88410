"""Ticker: the one thread that hands over due :class:`~netstack.scheduler.timers.Timers` items.

It shares the scheduler's lock: ``schedule()`` is called with the lock held,
and ``on_due(items)`` runs with the lock held on the ticker thread, so a due
item moves back into the queue atomically with every other decision. It
wakes at most 1 ms after an item is due, handing over every item due by then. The
thread starts on the first ``schedule()`` (a scheduler that never retries or
paces never has one), sleeps until the earliest due time, and ends at
``stop()``. ``on_due`` must not call user code or resolve futures: it returns
what to do outside the lock, and ``after(effects)`` runs it lock-free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from netstack.scheduler.timers import Timers

__all__ = ["Ticker"]

T = TypeVar("T")

#: Seconds a wake-up may come late so that items due close together are
#: handed over in one wake-up (nothing is ever handed over early).
_SLACK = 0.001
E = TypeVar("E")


class Ticker(Generic[T, E]):
    """A timer thread over a shared lock. ``schedule`` and ``stop`` need the lock held."""

    def __init__(
        self,
        lock: threading.Lock,
        name: str,
        on_due: Callable[[list[T]], E],
        after: Callable[[E], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cond = threading.Condition(lock)
        self._name = name
        self._on_due = on_due
        self._after = after
        self._clock = clock
        self._timers: Timers[T] = Timers()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def __len__(self) -> int:
        """Items scheduled and not yet due (some may no longer apply)."""
        return len(self._timers)

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def schedule(self, due: float, item: T) -> bool:
        """Under the lock: hand ``item`` to ``on_due`` at monotonic time ``due``.

        False (nothing scheduled) when the thread cannot start (interpreter exit).
        """
        if self._thread is None:
            thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            try:
                thread.start()
            except RuntimeError:
                return False
            self._thread = thread
        head = self._timers.next_due
        self._timers.push(due, item)
        if head is None or due < head:
            self._cond.notify()
        return True

    def clear(self) -> list[T]:
        """Under the lock: take every scheduled item now, due or not."""
        return self._timers.clear()

    def stop(self) -> None:
        """Under the lock: let the thread end once nothing is scheduled.

        What is scheduled is still handed over when due; a later
        ``schedule()`` starts a new thread.
        """
        self._stopped = True
        self._cond.notify()

    def _loop(self) -> None:
        cond, timers, clock = self._cond, self._timers, self._clock
        while True:
            with cond:
                while True:
                    head = timers.next_due
                    if head is None:
                        if self._stopped:
                            self._thread = None
                            return
                        cond.wait()
                        continue
                    now = clock()
                    due = timers.pop_due(now)
                    if due:
                        effects = self._on_due(due)
                        break
                    cond.wait(head - now + _SLACK)
            self._after(effects)

    def __repr__(self) -> str:
        return f"<Ticker {self._name!r} {len(self._timers)} scheduled>"
