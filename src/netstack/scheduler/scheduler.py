"""Scheduler: the client, and the composition root of a request's path.

It validates, prepares the call (``netstack.call.prepare_call``: options,
URL, the cache's answer if fresh), and hands the job to a *sink*
(``jobs.py``): the in-process dispatcher (``local.py`` over
``netstack.dispatch``), or a Redis queue's (``RedisQueue.attach``). It holds no queue,
lock or thread of its own, and never branches on where requests run. Its
documented internal interface is ``scheduler.jobs`` (``jobs.py``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from netstack.adaptive import AdaptiveConcurrency
from netstack.breaker import CircuitBreaker
from netstack.call import prepare_call as _prepare_call
from netstack.defaults import OptionDefaults
from netstack.dispatch.aging import Aging
from netstack.dispatch.errors import QueueFullError, SchedulerShutdownError
from netstack.errors import HttpError
from netstack.hostguard import HostGuard
from netstack.hosts import HostRules
from netstack.politeness import PolitenessPolicy
from netstack.retry import RetryPolicy
from netstack.scheduler.future import RequestFuture
from netstack.scheduler.jobs import JobQueue, Jobs, JobSink
from netstack.scheduler.local import LocalSink
from netstack.scheduler.politeness import pacer_for
from netstack.scheduler.stats import SchedulerStats
from netstack.tags import check_tag
from netstack.validation import check_priority

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from typing_extensions import Self

    from netstack.cache import HttpResponseCache
    from netstack.call import Events
    from netstack.options import HttpRequestOptions, HttpRequestOptionsDict, OptionsInput
    from netstack.response import HttpResponse
    from netstack.scheduler.job import Job
    from netstack.transport import Transport

__all__ = ["QueueFullError", "Scheduler", "SchedulerShutdownError", "SchedulerStats"]

_ON_FULL: Final = ("raise", "block")

_TRANSPORT_LOCK = threading.Lock()


class Scheduler:
    """Runs requests on a pool of worker threads, by priority, with a per-host limit.

    ``cache=None`` uses the response cache installed process-wide (if any) at
    request time. ``max_queue`` caps the requests waiting; beyond it,
    ``on_full="raise"`` (the default) makes ``submit`` raise
    :class:`QueueFullError` (an HttpError 2300999, not a 401: the request is
    valid, the scheduler is momentarily full) and ``on_full="block"`` makes it
    wait for room (up to its ``timeout``, then QueueFullError). After
    ``shutdown()``, ``submit`` raises :class:`SchedulerShutdownError`
    (HttpError 2300999, also a RuntimeError). Use it as a context manager, or
    call ``shutdown()``: workers are daemon threads, and at interpreter exit
    every live scheduler is shut down with ``wait=True`` (queued work runs,
    as with ``ThreadPoolExecutor``), unless the program ends because of an
    unhandled exception (Ctrl-C included) or Ctrl-C comes during that wait:
    then queued requests are cancelled and running ones aborted, so the
    program stops within a second or two.

    Keyword-only policies, all off by default: ``retry`` (a
    :class:`RetryPolicy` for every request; the option ``retry`` overrides
    it), ``politeness`` (a :class:`PolitenessPolicy`), ``allowed_hosts`` /
    ``blocked_hosts`` (exact or ``*.suffix`` patterns; any other host ends
    with HttpError 2300998 before a connection is made, redirects included),
    ``aging`` (seconds of waiting worth one priority step; see ``aging.py``),
    ``breaker`` (a :class:`CircuitBreaker`: a host that keeps failing gets
    requests failed at once, without a connection, until a trial succeeds;
    its state shows in ``stats().breakers``; with a RedisQueue the circuits
    live in Redis, shared by every worker), ``adaptive`` (True, or an
    :class:`AdaptiveConcurrency`: each host starts at a small limit of
    requests in flight, raised while its latency stays flat and cut on
    timeouts, 429/503 and rising latency, never above ``max_per_host``; the
    current limits show in ``stats().host_limits``), ``default_options`` (an
    :class:`HttpRequestOptions` or mapping every request starts from: its own
    options are merged over them, ``header`` name by name, the request's own
    value winning; ``create_http(scheduler)`` requests get them too).

    ``queue=RedisQueue(url, name)`` makes this scheduler a producer for
    ``netstack worker`` processes: requests are validated (and answered by a
    fresh hit of this scheduler's cache) here, then run on the workers, with
    their ``--workers`` and ``--per-host``; see ``netstack.distributed``.
    """

    def __init__(
        self,
        max_workers: int = 32,
        max_per_host: int = 8,
        cache: HttpResponseCache | None = None,
        max_queue: int | None = None,
        name: str = "netstack",
        *,
        on_full: Literal["raise", "block"] = "raise",
        retry: RetryPolicy | None = None,
        politeness: PolitenessPolicy | None = None,
        allowed_hosts: Iterable[str] | None = None,
        blocked_hosts: Iterable[str] | None = None,
        aging: float | None = None,
        queue: JobQueue | None = None,
        breaker: CircuitBreaker | None = None,
        adaptive: bool | AdaptiveConcurrency = False,
        default_options: HttpRequestOptions | HttpRequestOptionsDict | None = None,
    ) -> None:
        _check_count("max_workers", max_workers, MAX_THREADS)
        _check_count("max_per_host", max_per_host, MAX_THREADS)
        if max_queue is not None:
            _check_count("max_queue", max_queue)
        if not isinstance(name, str):
            raise HttpError.parameter(f"name: must be a str, got {name!r}")
        if on_full not in _ON_FULL:
            raise HttpError.parameter(f"on_full: must be 'raise' or 'block', got {on_full!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise HttpError.parameter(f"retry: must be a RetryPolicy or None, got {retry!r}")
        if politeness is not None and not isinstance(politeness, PolitenessPolicy):
            raise HttpError.parameter(
                f"politeness: must be a PolitenessPolicy or None, got {politeness!r}"
            )
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise HttpError.parameter(f"breaker: must be a CircuitBreaker or None, got {breaker!r}")
        adaptive_policy = _adaptive(adaptive, queue is not None)
        rules = HostRules.build(allowed_hosts, blocked_hosts)
        #: ``default_options``, validated; each request's own options are merged over them.
        self.defaults = None if default_options is None else OptionDefaults(default_options)
        aging_policy = None if aging is None else Aging(aging, time.monotonic())
        self._aging = aging_policy
        self._name = name
        self._max_workers = max_workers
        self._max_per_host = max_per_host
        self._cache = cache
        self._transport: Transport | None = None
        self._rules = rules
        self._retry = retry
        self._politeness = politeness
        self._breaker = breaker
        sink: JobSink
        if queue is None:
            sink = LocalSink(
                self,
                max_workers=max_workers,
                max_per_host=max_per_host,
                max_queue=max_queue,
                block_when_full=on_full == "block",
                retry=retry,
                pacer=pacer_for(politeness)
                if politeness is not None and politeness.limits
                else None,
                aging=aging_policy,
            )
        else:
            attach = getattr(queue, "attach", None)
            if not callable(attach):
                raise HttpError.parameter(f"queue: must be a RedisQueue or None, got {queue!r}")
            sink = attach(self)
        guard = None
        if breaker is not None or adaptive_policy is not None:
            set_limit = sink.pool.set_limit if isinstance(sink, LocalSink) else None
            # With a RedisQueue the workers run the requests; the circuits live in Redis.
            store = None if queue is None or breaker is None else queue.breaker_store(breaker)
            guard = HostGuard(breaker, adaptive_policy, max_per_host, set_limit, store=store)
        #: The documented internal interface: prepared jobs in, abort, withdraw (jobs.py).
        self.jobs = Jobs(name, rules, sink, guard)
        _LIVE.add(self)

    @property
    def name(self) -> str:
        return self._name

    @property
    def max_workers(self) -> int:
        return self._max_workers

    @property
    def max_per_host(self) -> int:
        return self._max_per_host

    @property
    def cache(self) -> HttpResponseCache | None:
        """The cache given at construction (None: the installed one, at request time)."""
        return self._cache

    @property
    def default_options(self) -> HttpRequestOptions | None:
        """The options every request starts from (its own are merged over them), or None."""
        return None if self.defaults is None else self.defaults.options

    @property
    def retry(self) -> RetryPolicy | None:
        """The retry policy of requests without a ``retry`` option."""
        return self._retry

    @property
    def politeness(self) -> PolitenessPolicy | None:
        return self._politeness

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The circuit breaker given at construction (None: none)."""
        return self._breaker

    @property
    def transport(self) -> Transport:
        """The Transport of this scheduler's requests, created on first use.

        Its connection pools are sized to ``max_per_host``.
        """
        transport = self._transport
        if transport is None:
            with _TRANSPORT_LOCK:
                transport = self._transport
                if transport is None:
                    from netstack.transport import Transport

                    transport = self._transport = Transport(max_per_host=self._max_per_host)
        return transport

    @property
    def aging(self) -> float | None:
        """Seconds of waiting worth one priority step (None: no aging)."""
        return None if self._aging is None else self._aging.interval

    @property
    def allowed_hosts(self) -> tuple[str, ...] | None:
        """The ``allowed_hosts`` patterns as given (None: any host not blocked)."""
        allowed = None if self._rules is None else self._rules.patterns[0]
        return None if allowed is None else tuple(allowed)

    @property
    def blocked_hosts(self) -> tuple[str, ...]:
        """The ``blocked_hosts`` patterns as given."""
        return () if self._rules is None else tuple(self._rules.patterns[1])

    def host_allowed(self, host: str) -> bool:
        """Whether requests and redirects may go to ``host`` (allowed_hosts, blocked_hosts)."""
        return self._rules is None or self._rules.allows(host)

    # -- submitting ------------------------------------------------------------

    def submit(
        self,
        url: str,
        options: OptionsInput = None,
        *,
        events: Events = None,
        timeout: float | None = None,
    ) -> RequestFuture[HttpResponse]:
        """Queue a request; its future resolves to an HttpResponse or raises HttpError.

        ``events`` maps event names (``"headersReceive"``, ``"dataSendProgress"``)
        to callbacks. Bad input raises HttpError 401 here, before anything is
        queued. ``timeout`` bounds the wait for room with ``on_full="block"``.
        """
        jobs = self.jobs
        if jobs.sink.closed:
            raise jobs.shutdown_error()
        return jobs.submit(self._prepare(url, options, events), timeout=timeout)

    def submit_batch(
        self, items: Iterable[str | tuple[str, OptionsInput]], *, timeout: float | None = None
    ) -> list[RequestFuture[HttpResponse]]:
        """Submit many requests: each item is a url or a ``(url, options)`` pair.

        A list or tuple is validated first, so a 401 leaves nothing queued;
        with ``on_full="raise"`` it is queued all at once or not at all, with
        ``"block"`` item by item as room appears (``timeout`` bounds each wait).
        Any other iterable (a generator) is consumed lazily, one item at a
        time, and never held in memory: a 401 or a full queue stops it there,
        the items before stay queued.
        """
        jobs = self.jobs
        if jobs.closed:
            raise jobs.shutdown_error()
        if isinstance(items, Sequence) and not isinstance(items, str):
            prepared = [self._prepare(*_split(item)) for item in items]
            if self._blocks_when_full():
                return [jobs.submit(job, timeout=timeout) for job in prepared]
            return jobs.submit_many(prepared)
        return [jobs.submit(self._prepare(*_split(item)), timeout=timeout) for item in items]

    def resume(self, path: str | os.PathLike[str]) -> list[RequestFuture[HttpResponse]]:
        """Submit the requests ``shutdown(persist=path)`` wrote, in their order.

        They keep their priority and tag (listeners are not persisted). The
        file is left in place.
        """
        from netstack.scheduler.persist import read_queue

        return self.submit_batch(cast("list[tuple[str, OptionsInput]]", read_queue(path)))

    def _prepare(self, url: str, options: OptionsInput, events: Events = None) -> Job:
        if self.defaults is not None:
            options = self.defaults.apply(options)
        return _prepare_call(
            url,
            options,
            events=events,
            cache=self._cache,
            transport=self._transport or self.transport,
            stream=False,
            host_allowed=self.jobs.host_check,
            guard=self.jobs.guard,
        )

    def _blocks_when_full(self) -> bool:
        sink = self.jobs.sink
        return isinstance(sink, LocalSink) and sink.pool.blocks_when_full

    # -- changing queued requests ----------------------------------------------

    def set_priority(self, future: RequestFuture[Any], priority: int) -> None:
        """Re-queue a waiting request at ``priority`` (1..1000), keeping its submission order.

        A request waiting out a retry backoff re-enters at ``priority``. No
        effect once it runs or ended. Raises HttpError 401 for a value out of
        range or a future of another scheduler.
        """
        check_priority(priority)
        if not isinstance(future, RequestFuture) or future._scheduler is not self:
            raise HttpError.parameter("future: not a request of this scheduler")
        self.jobs.sink.set_priority(future, priority)

    def cancel_all(self, tag: str) -> int:
        """Stop every request tagged ``tag`` that is not running; returns how many.

        Waiting ones are cancelled; one between two attempts ends with its
        last attempt's outcome (it has run). Running ones finish.
        """
        check_tag(tag)
        return self.jobs.sink.cancel_tag(tag)

    def set_priority_all(self, tag: str, priority: int) -> int:
        """``set_priority`` every waiting request tagged ``tag``; returns how many changed."""
        check_tag(tag)
        check_priority(priority)
        return self.jobs.sink.set_priority_tag(tag, priority)

    # -- state -----------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        """A consistent snapshot of the counters."""
        stats = self.jobs.sink.stats()
        guard = self.jobs.guard
        if guard is not None:
            return dataclasses.replace(
                stats, breakers=guard.breaker_states(), host_limits=guard.host_limits()
            )
        return stats

    def shutdown(
        self,
        wait: bool = True,
        *,
        cancel_pending: bool = False,
        abort_running: bool = False,
        persist: str | os.PathLike[str] | None = None,
    ) -> None:
        """Stop accepting requests. Idempotent.

        With ``cancel_pending``, every waiting request is cancelled (one
        between two attempts ends with its last outcome) and no retry starts;
        otherwise queued requests and retries still run. With ``persist``,
        the waiting requests that never ran are first written to that path
        (see ``persist.py``; :meth:`resume` submits them again) and end
        cancelled; one between two attempts is not written and ends with its
        last outcome (never both). If the file cannot be written they stay
        queued and run, and the OSError propagates. ``abort_running``
        implies ``cancel_pending`` and aborts the running requests too (they
        end with HttpError 2300042, as ``RequestFuture.abort()`` does), so
        that shutdown returns within about a second. ``wait`` joins the
        workers (so, without ``cancel_pending``, waits for the queue to
        empty), then closes the transport's connection pools. Called from
        one of this scheduler's own threads (a done-callback, a request
        callback, an event listener), ``wait`` does not wait: that thread
        cannot wait for itself; the queue still drains.
        """
        if self.jobs.sink.shutdown(wait, cancel_pending, persist, abort_running):
            transport = self._transport
            if transport is not None:
                transport.close()  # nothing runs any more

    def _shutdown_at_exit(self, stop: bool) -> None:
        self.jobs.sink.shutdown_at_exit(stop)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        state = " shut down" if self.jobs.closed else ""
        return f"<Scheduler {self._name!r}{state} {self.jobs.sink.describe()}>"


def _adaptive(value: object, remote: bool) -> AdaptiveConcurrency | None:
    """The ``adaptive`` argument as a policy (None: off)."""
    if value is False or value is None:
        return None
    if remote:
        raise HttpError.parameter(
            "adaptive: not available with queue=RedisQueue yet (the workers run the requests)"
        )
    if value is True:
        return AdaptiveConcurrency()
    if isinstance(value, AdaptiveConcurrency):
        return value
    raise HttpError.parameter(f"adaptive: must be a bool or an AdaptiveConcurrency, got {value!r}")


def _split(item: str | tuple[str, OptionsInput]) -> tuple[str, OptionsInput]:
    return item if isinstance(item, tuple) else (item, None)


#: Most threads (max_workers) and connections per host (max_per_host, a pool's size).
MAX_THREADS: Final = 10_000


def _check_count(field: str, value: object, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise HttpError.parameter(f"{field}: must be an int >= 1, got {value!r}")
    if high is not None and value > high:
        raise HttpError.parameter(f"{field}: must be an int in [1, {high}], got {value!r}")


# -- interpreter exit ------------------------------------------------------------

_LIVE: weakref.WeakSet[Scheduler] = weakref.WeakSet()


def exiting_on_error() -> bool:
    """Whether the interpreter is exiting because of an unhandled exception (Ctrl-C included).

    CPython records the exception it printed in ``sys.last_value`` (``last_exc``
    from 3.12), whatever ``sys.excepthook`` is. An interactive session is never
    ending because of one (its errors are shown and it goes on), so it drains.
    """
    if hasattr(sys, "ps1"):
        return False
    return (
        getattr(sys, "last_exc", None) is not None or getattr(sys, "last_value", None) is not None
    )


def _shutdown_all() -> None:
    """At exit, before non-daemon threads are joined: let every queued request finish,
    unless an unhandled exception (Ctrl-C) ends the program, or Ctrl-C comes meanwhile:
    then cancel what waits and abort what runs."""
    schedulers = list(_LIVE)
    stop = exiting_on_error()
    try:
        for scheduler in schedulers:
            scheduler._shutdown_at_exit(stop)
    except KeyboardInterrupt:
        for scheduler in schedulers:
            scheduler._shutdown_at_exit(True)


def _register_exit_hook() -> None:
    # threading._register_atexit runs before the interpreter joins non-daemon
    # threads (atexit runs after), as concurrent.futures relies on.
    register: Any = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - not CPython
        import atexit

        atexit.register(_shutdown_all)
    else:
        register(_shutdown_all)


_register_exit_hook()
