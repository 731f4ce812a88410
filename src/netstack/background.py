"""Background revalidations (RFC 5861 stale-while-revalidate): a few daemon threads.

A stale response served within ``stale-while-revalidate`` is refreshed by
one background request per URL (the cache decides which caller starts it).
Those requests run here, outside the scheduler's queue: at most
:data:`MAX_THREADS` at once, the rest waiting in order. The threads are
daemons and end when nothing is left to do, so an idle program holds none
and exit never waits for a revalidation.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Final

from netstack.log import log_event
from netstack.threads import start_daemon

#: Background revalidations running at once.
MAX_THREADS: Final = 4

_lock = threading.Lock()
_pending: deque[Callable[[], object]] = deque()
_running = 0


def start(task: Callable[[], object]) -> None:
    """Run ``task`` on a background thread; its exceptions are logged (DEBUG), never raised."""
    global _running  # noqa: PLW0603 -- one small pool per process
    with _lock:
        _pending.append(task)
        if _running >= MAX_THREADS:
            return
        _running += 1
    start_daemon(_work, "netstack-revalidate")


def _work() -> None:
    global _running  # noqa: PLW0603
    while True:
        with _lock:
            if not _pending:
                _running -= 1
                return
            task = _pending.popleft()
        try:
            task()
        except Exception as exc:  # the stale response was served; the next request retries
            log_event(logging.DEBUG, "cache_background_revalidation_failed", error=repr(exc))
