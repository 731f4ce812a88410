"""The seam between the scheduler and HTTP: what a worker runs.

The scheduler knows nothing of HTTP beyond ``host_key``. ``netstack.call``
builds jobs (validation, cache lookup, transport, cache store); the scheduler
queues them by ``(priority, submission order)`` per host and runs them.

Optional attributes, read with ``getattr`` (a job without them gets the
defaults), serve the scheduler's policies: ``retry`` (a ``RetryPolicy``, 0
for none, None for the scheduler's), ``method`` (for the retry policy's
idempotency rule), ``attempts`` (runs so far; ``run()`` increments it),
``tag`` (str or None) and ``options`` (what ``shutdown(persist=...)``
writes). ``run()`` may be called again for a retry.
"""

from __future__ import annotations

from typing import Protocol


class Job(Protocol):
    """One unit of work for a worker thread."""

    #: Requests with the same key share the ``max_per_host`` limit.
    host_key: str
    #: For logs only.
    url: str
    #: Initial priority in [1, 1000]; larger runs first.
    priority: int
    #: Set when the job finished before queueing (a fresh cache hit, or an
    #: error such as a malformed URL): the scheduler resolves the future at
    #: submit time with ``settled_result`` or ``settled_error``.
    settled: bool
    settled_result: object
    settled_error: BaseException | None
    #: True when the job was answered from the cache (counted in cache_hits).
    from_cache: bool
    #: True when the job consulted a cache that could not answer it (cache_misses).
    cache_miss: bool

    def run(self) -> object:
        """Run on a worker thread; return the result or raise (an HttpError)."""

    def abort(self) -> None:
        """From any thread: make a running ``run()`` end promptly (2300042)."""
