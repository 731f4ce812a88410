"""Alarm: one thread that calls back at monotonic times (the ``total_timeout`` deadlines).

Only requests with a ``total_timeout`` use it, so a process that sets none
never starts the thread and pays nothing per request. The thread starts on
the first :meth:`Alarm.at` and leaves once nothing is due (it starts again
on the next; after ``fork()`` too). Targets are held by weak reference: a
request that ended and was dropped before its deadline is not kept alive by
its alarm. Callbacks run on the alarm thread, outside its lock, one after
the other; an exception in one is logged and does not stop the others.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final

from netstack.log import log_event
from netstack.threads import start_daemon

__all__ = ["ALARM", "Alarm"]

_INFO: Final = logging.INFO
#: How long an idle alarm thread waits for new work before it leaves.
_LINGER: Final = 5.0

_Entry = tuple[float, int, "weakref.ref[Any]", Callable[[Any], object]]


class Alarm:
    """Calls ``fire(target)`` at ``due`` (monotonic seconds) if ``target`` still lives."""

    def __init__(self, name: str = "netstack-deadline") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._heap: list[_Entry] = []
        self._seq = 0
        self._thread: threading.Thread | None = None

    def at(self, due: float, target: object, fire: Callable[[Any], object]) -> None:
        """Schedule ``fire(target)`` at monotonic time ``due``."""
        ref = weakref.ref(target)
        with self._lock:
            seq = self._seq = self._seq + 1
            heap = self._heap
            earliest = not heap or due < heap[0][0]
            heapq.heappush(heap, (due, seq, ref, fire))
            thread = self._thread
            if thread is None or not thread.is_alive():
                self._thread = start_daemon(self._run, self._name)
            elif earliest:
                self._changed.notify()

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)

    def _run(self) -> None:
        heap = self._heap
        while True:
            with self._lock:
                while True:
                    now = time.monotonic()
                    if heap and heap[0][0] <= now:
                        break
                    wait = heap[0][0] - now if heap else _LINGER
                    if not self._changed.wait(wait) and not heap:
                        self._thread = None  # idle for _LINGER: leave; at() starts another
                        return
                due: list[_Entry] = []
                while heap and heap[0][0] <= now:
                    due.append(heapq.heappop(heap))
            for _, _, ref, fire in due:
                target = ref()
                if target is None:
                    continue
                try:
                    fire(target)
                except Exception as exc:  # one bad callback never stops the others
                    log_event(_INFO, "deadline_failed", error=repr(exc))


#: The process-wide alarm of ``total_timeout`` deadlines.
ALARM: Final = Alarm()
