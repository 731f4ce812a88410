"""The client's job: a dispatcher job (``netstack.dispatch.job``) that may end at submit.

``netstack.call`` builds them (validation, cache lookup, transport, cache
store). Beyond what the dispatcher reads (``host_key``, ``url``,
``priority``, ``run``, ``abort``; optionally ``tag``, ``attempts``), the
client reads ``settled*`` and ``from_cache`` / ``cache_miss`` here, and
optionally ``retry`` (a ``RetryPolicy``, 0 for none, None for the
scheduler's), ``method`` (for the retry policy's idempotency rule) and
``options`` (what ``shutdown(persist=...)`` writes).
"""

from __future__ import annotations

from typing import Protocol

from netstack.dispatch.job import Job as DispatchJob

__all__ = ["Job"]


class Job(DispatchJob, Protocol):
    """One request as the client hands it to the dispatcher."""

    #: Set when the job finished before queueing (a fresh cache hit, or an
    #: error such as a malformed URL): the client resolves the future at
    #: submit time with ``settled_result`` or ``settled_error``.
    settled: bool
    settled_result: object
    settled_error: BaseException | None
    #: True when the job was answered from the cache (counted in cache_hits).
    from_cache: bool
    #: True when the job consulted a cache that could not answer it (cache_misses).
    cache_miss: bool
