"""The threads netstack starts leave signals to the main thread.

The kernel delivers a process-directed signal (Ctrl-C's SIGINT, a SIGTERM)
to any thread that does not block it. Python runs signal handlers only in
the main thread, so a SIGINT that lands on a worker blocked in ``recv``
sets a flag nobody looks at while the main thread sleeps in
``future.result()``: Ctrl-C seems ignored. Every thread netstack starts
therefore blocks the asynchronous signals; it inherits that mask from the
thread that starts it, so :func:`start_daemon` blocks them around
``Thread.start`` (two system calls per thread started, none per request).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ASYNC_SIGNALS", "start_daemon"]

_NAMES = (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT",
    "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGWINCH",
)  # fmt: skip

#: The signals netstack's threads block (empty where ``pthread_sigmask`` is missing: Windows).
ASYNC_SIGNALS: frozenset[signal.Signals] = (
    frozenset(getattr(signal, name) for name in _NAMES if hasattr(signal, name))
    if hasattr(signal, "pthread_sigmask")
    else frozenset()
)


def start_daemon(
    target: Callable[..., object], name: str, args: tuple[Any, ...] = ()
) -> threading.Thread:
    """Start a daemon thread running ``target(*args)`` with :data:`ASYNC_SIGNALS` blocked.

    Raises what ``Thread.start`` raises (RuntimeError at interpreter exit).
    """
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    if not ASYNC_SIGNALS:
        thread.start()
        return thread
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, ASYNC_SIGNALS)
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    return thread
