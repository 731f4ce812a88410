"""Worker: a process that runs requests from a RedisQueue (``netstack worker``).

Threads: one *fetcher* talks to Redis in batches, through the queue as a
dispatcher backend (``RedisBackend``, its items are this worker's leases):
each ``take`` (one Lua script) records the outcomes given with ``record``
or ``retry_at`` since the last one and leases up to the number of free
threads. It calls when it has a free thread to fill and no outcome to
record, or outcomes to record: half its threads' worth, or the last
running one's, or any that waited two milliseconds; the outcomes finished
while a call is on the wire share the next one too. So a busy worker makes one call per several
requests and an idle one records each outcome at once. When the queue is
empty and nothing runs, it blocks on the queue's wake list (BLPOP, a
second at a time): an idle worker costs two Redis calls
a second and no CPU. Leased requests run on an in-process
:class:`~netstack.Scheduler` (transport, response cache, retries). One
*renewer* extends this worker's leases every third of ``lease`` seconds.
The caller's thread waits for ``stop`` and logs health.

Leases: a request leased by a worker that then dies (kill -9, power loss)
returns to its place in the queue once its lease expires, and runs again:
delivery is *at least once*. Its outcome is still recorded once (see
``ops.py``). A stalled worker whose lease expired may finish too: the first
outcome wins, the later one is dropped.

Hostile data: a job whose payload cannot be decoded (not JSON, a 400-digit
number, nesting too deep, wrong types, invalid UTF-8) fails that one
request with HttpError 401 (its producer gets it), is logged once, and the
worker goes on; nothing a payload holds can stop a thread.

Stopping (``stop`` set, e.g. by SIGTERM): no new lease; running requests get
``grace`` seconds to finish and be recorded; the ones still running after
that are given back to the queue (their place and priority kept), then
aborted. Nothing is lost: every leased request ends recorded or back in the
queue.

Redis lost: the fetcher and the renewer retry with exponential backoff
(0.1 s to 5 s) and log once per outage; an outcome that cannot be recorded
is retried until its lease would have expired (then another worker runs it
again). The process never spins and never crashes for it. When Redis comes
back empty (restarted without persistence, flushed, failed over), the
worker notices the queue's new epoch, logs ``redis_state_lost`` and sets its
``--per-host`` again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from netstack.breaker import CircuitBreaker
from netstack.distributed.backend import RedisBackend
from netstack.distributed.breakers import RedisBreakers
from netstack.distributed.connect import Backoff, connect_to, is_redis_error
from netstack.distributed.ops import Exchanged, Finished, Popped, QueueOps
from netstack.distributed.policies import pace_of
from netstack.distributed.wire import decode_request, encode_error, encode_response
from netstack.errors import ABORTED, UNKNOWN, HttpError
from netstack.hostguard import HostGuard
from netstack.hosts import HostRules
from netstack.log import log_event
from netstack.options import RequestMethod
from netstack.politeness import PolitenessPolicy
from netstack.retry import RetryPolicy
from netstack.threads import start_daemon
from netstack.validation import resolve_options

if TYPE_CHECKING:
    from collections.abc import Iterable
    from concurrent.futures import Future

    import redis

    from netstack.cache import HttpResponseCache
    from netstack.options import OptionsInput
    from netstack.scheduler import Scheduler

__all__ = ["Worker", "WorkerCounts"]

_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
#: Seconds an idle fetcher blocks on the wake list before looking again.
_IDLE_WAIT: Final = 1.0
#: Seconds between looks at an empty queue while some requests still run.
_POLL: Final = 0.1
#: Seconds an outcome may wait for others to share its call (when other requests run).
_LINGER: Final = 0.002
#: Seconds between calls of a worker busy with long requests (to hear of aborts).
_LOOK: Final = 0.5
#: Distinct host-rule sets (each its own in-process scheduler) a worker serves at most.
_RULE_SETS: Final = 16

#: Private, so retry jitter never touches the global random state.
_jitter = random.Random()  # noqa: S311 - jitter, not cryptography


@dataclass(slots=True)
class WorkerCounts:
    """What one worker did since it started."""

    completed: int = 0
    failed: int = 0
    returned: int = 0
    dropped: int = 0  #: outcomes Redis had already (another worker finished first)
    round_trips: int = 0  #: Redis calls made


@dataclass(slots=True)
class _Running:
    popped: Popped
    future: Future[Any] | None = None
    retry: RetryPolicy | None = None
    method: str = "GET"


@dataclass(slots=True)
class _Outbox:
    """Outcomes waiting for the fetcher's next call."""

    items: list[tuple[Finished, float]] = field(default_factory=list)
    #: When the oldest of ``items`` arrived (monotonic).
    since: float = 0.0


class Worker:
    """Runs the requests of RedisQueue ``name`` at ``url``; see the module docstring.

    ``url`` is a ``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://`` URL, or a ``redis.Redis`` client. ``retry``,
    ``politeness``, ``allowed_hosts`` and ``blocked_hosts`` apply to the
    requests that travel without their own (a producer's policies win); the
    pace is kept in Redis, so give every worker of a queue the same.
    """

    def __init__(
        self,
        url: str | redis.Redis,
        name: str = "netstack",
        *,
        workers: int = 8,
        per_host: int | None = None,
        lease: float = 30.0,
        grace: float = 30.0,
        cache: HttpResponseCache | None = None,
        health_interval: float = 30.0,
        retry: RetryPolicy | None = None,
        politeness: PolitenessPolicy | None = None,
        allowed_hosts: Iterable[str] | None = None,
        blocked_hosts: Iterable[str] | None = None,
    ) -> None:
        if workers < 1:
            raise HttpError.parameter(f"workers: must be >= 1, got {workers}")
        if lease < 0.3:
            raise HttpError.parameter(f"lease: must be >= 0.3 seconds, got {lease}")
        HostRules.build(allowed_hosts, blocked_hosts)  # 401 for a bad pattern, now
        client, self.url = connect_to(url)
        self.name = name
        self.workers = workers
        self.lease = lease
        self.grace = grace
        self.health_interval = health_interval
        #: The retry policy of requests that travel without one.
        self.retry = retry
        #: The pace of hosts whose requests travel without one (every worker should agree).
        self._pace = pace_of(politeness)
        self._hosts = _rules(allowed_hosts, blocked_hosts)
        self._next_due: float | None = None
        self._aborts = "0"
        self._last_call = 0.0
        self._to_abort: set[int] = set()
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.counts = WorkerCounts()
        self._ops = QueueOps(client, name)
        #: The queue as a dispatcher backend; its items are this worker's leases.
        self._backend: RedisBackend[Popped] = RedisBackend(
            self._ops,
            _payload,
            _lease,
            worker=self.token,
            lease=lease,
            pace=self._pace,
            leases_are_items=True,
        )
        self._per_host = per_host
        if per_host is not None:
            self._ops.configure(per_host)
        self.per_host = self._ops.max_per_host()
        self._epoch = ""
        self._cache = cache
        self._lease_ms = int(lease * 1000)
        self._lock = threading.Condition()
        self._running: dict[int, _Running] = {}
        self._returning: set[int] = set()
        self._outbox = _Outbox()
        self._free = workers
        #: Outcomes that make a call at once (fewer wait up to _LINGER for company).
        self._batch = max(1, workers // 2)
        self._starved = False
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._scheduler: Scheduler | None = None
        #: Per (host rules, breaker) of the requests: an in-process scheduler.
        self._schedulers: dict[tuple[object, object], Scheduler] = {}

    # -- the life of a worker --------------------------------------------------

    def run(self, stop: threading.Event) -> WorkerCounts:
        """Work until ``stop`` is set, then stop gracefully; returns the counts."""
        self._scheduler = self._local(None)
        threads = [
            start_daemon(self._fetch, "netstack-worker-fetch"),
            start_daemon(self._renew, "netstack-worker-renew"),
        ]
        log_event(
            _INFO,
            "worker_started",
            worker=self.token,
            redis=self.url,
            queue=self.name,
            workers=self.workers,
            per_host=self.per_host,
            lease=self.lease,
        )
        while not stop.wait(self.health_interval):
            self._health()
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._drain(time.monotonic() + self.grace)
        threads[0].join(timeout=self.lease + 2 * _IDLE_WAIT)
        for scheduler in list(self._schedulers.values()):
            scheduler.shutdown(wait=True)
        self._finished.set()
        threads[1].join()
        self.counts.round_trips = self._ops.round_trips
        self._ops.client.close()
        log_event(_INFO, "worker_stopped", worker=self.token, **_asdict(self.counts))
        return self.counts

    def _drain(self, deadline: float) -> None:
        """Let running requests finish until ``deadline``, then give back the rest."""
        with self._lock:
            while self._running and (remaining := deadline - time.monotonic()) > 0:
                self._lock.wait(remaining)
            finished = {f.request_id for f, _ in self._outbox.items}
            left = {i: r for i, r in self._running.items() if i not in finished}
            self._returning.update(left)
        if not left:
            return
        backoff = Backoff()
        for _ in range(20):
            try:
                returned = self._ops.give_back(self.token, left)
                break
            except Exception as exc:
                if not is_redis_error(exc):
                    raise
                time.sleep(backoff.next_delay())
        else:
            returned = 0  # their leases expire: at-least-once runs them again
        self.counts.returned += returned
        log_event(_INFO, "worker_returned", worker=self.token, requests=returned)
        for running in left.values():
            if running.future is not None:
                running.future.abort()  # type: ignore[attr-defined]
        with self._lock:
            for request_id in left:
                self._running.pop(request_id, None)
            self._lock.notify_all()

    def _health(self) -> None:
        try:
            queue = self._ops.counts()
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            queue = {}
        with self._lock:
            running = len(self._running)
        log_event(
            _INFO,
            "worker_health",
            worker=self.token,
            running=running,
            waiting=queue.get("waiting"),
            leased=queue.get("leased"),
            **_asdict(self.counts),
        )

    # -- fetching --------------------------------------------------------------

    def _fetch(self) -> None:
        backoff = Backoff()
        was_idle = False
        while True:
            with self._lock:
                step = self._next_step()
                if step is None:
                    return
                if step == "block":
                    outbox: list[tuple[Finished, float]] = []
                    want = 0
                else:
                    outbox, self._outbox.items = self._outbox.items, []
                    want = 0 if self._stop.is_set() else self._free
                    self._free -= want
                    will_block = len(self._running) == len(outbox)
                    leases = [(self._running.get(f.request_id), f) for f, _ in outbox]
            if step == "block":
                was_idle = self._block(backoff)
                continue
            for running, finished in leases:
                if running is None:  # given back at stop meanwhile: nothing to record
                    continue
                if finished.counter == "retry":
                    due = time.monotonic() + finished.retry_ms / 1000
                    self._backend.retry_at(running.popped, due)
                else:
                    failed = finished.counter == "failed"
                    self._backend.record(running.popped, finished.outcome, failed=failed)
            try:
                popped_now = self._backend.take(
                    time.monotonic(), want, idle=was_idle, block=will_block
                )
                done = self._backend.exchanged
                assert done is not None
            except Exception as exc:  # the fetcher never dies: back off and try again
                self._exchange_failed(exc, outbox, want, backoff)
                continue
            was_idle = False
            self._last_call = time.monotonic()
            if backoff.failures:
                log_event(_INFO, "redis_reconnected", role="worker")
                backoff.reset()
            self._exchanged(done, popped_now, outbox, want)

    def _next_step(self) -> str | None:
        """Under the lock: wait until there is something to do; None to end the fetcher.

        Outcomes go to Redis in company (see the module docstring); while one
        call is on the wire, those finished meanwhile pile up for the next.
        """
        while True:
            stopping = self._stop.is_set()
            pending = len(self._outbox.items)
            if stopping and not self._running and not pending:
                return None
            if pending and (
                stopping
                or pending >= self._batch
                or pending == len(self._running)
                or time.monotonic() - self._outbox.since >= _LINGER
            ):
                return "exchange"
            if not pending and not stopping and self._free > 0:  # (pending: let them gather)
                if not self._starved:
                    return "exchange"
                if not self._running:
                    return "block"
            if self._running and time.monotonic() - self._last_call >= _LOOK:
                return "exchange"  # busy with long requests: still hear about aborts
            poll = _POLL if self._next_due is None else max(0.01, min(_POLL, self._next_due))
            if pending:
                poll = max(0.0, self._outbox.since + _LINGER - time.monotonic())
            if not self._lock.wait(poll) and not pending and self._free > 0 and not stopping:
                self._starved = False  # look at the queue again now and then

    def _block(self, backoff: Backoff) -> bool:
        """Nothing to do: wait for a wake token; True if none came (still counted idle)."""
        due = self._next_due
        try:
            woken = self._ops.wait(_IDLE_WAIT if due is None else max(0.01, min(_IDLE_WAIT, due)))
        except Exception as exc:
            if backoff.failures == 0:
                log_event(_WARNING, "redis_unavailable", role="worker", error=repr(exc))
            self._stop.wait(backoff.next_delay())
            woken = False
        with self._lock:
            self._starved = False
        return not woken

    def _exchange_failed(
        self, exc: BaseException, outbox: list[tuple[Finished, float]], want: int, backoff: Backoff
    ) -> None:
        if backoff.failures == 0:
            event = "redis_unavailable" if is_redis_error(exc) else "worker_exchange_failed"
            log_event(_WARNING, event, role="worker", error=repr(exc)[:300])
        now = time.monotonic()
        lost = [f for f, deadline in outbox if deadline < now]
        with self._lock:
            self._free += want
            kept = [(f, d) for f, d in outbox if d >= now]
            self._outbox.items[:0] = kept
            if kept:
                self._outbox.since = now
            for f in lost:
                running = self._running.pop(f.request_id, None)
                if running is not None:
                    self._backend.unrecord(running.popped)
            self._lock.notify_all()
        for f in lost:
            log_event(
                _WARNING,
                "worker_outcome_lost",
                request_id=f.request_id,
                outcome="its lease expires and it runs again",
            )
        self._stop.wait(backoff.next_delay())

    def _exchanged(
        self,
        done: Exchanged,
        leased: list[Popped],
        outbox: list[tuple[Finished, float]],
        want: int,
    ) -> None:
        if self._epoch and done.epoch != self._epoch:
            log_event(_WARNING, "redis_state_lost", role="worker", queue=self.name)
            if self._per_host is not None:
                with contextlib.suppress(Exception):
                    self._ops.configure(self._per_host)
        self._epoch = done.epoch
        self._next_due = done.next_due
        if done.aborts != self._aborts:
            self._aborts = done.aborts
            self._abort_asked(leased)
        for request_id in done.dropped:
            log_event(_WARNING, "worker_unreadable_job", worker=self.token, request_id=request_id)
        with self._lock:
            for finished, _ in outbox:
                recorded = self._backend.recorded.get(finished.request_id, True)
                self._running.pop(finished.request_id, None)
                self._to_abort.discard(finished.request_id)
                if not recorded:
                    self.counts.dropped += 1
                elif finished.counter == "completed":
                    self.counts.completed += 1
                else:
                    self.counts.failed += 1
            self._free += want - len(leased)
            self._starved = len(leased) < want
            for popped in leased:
                self._running[popped.request_id] = _Running(popped)
            self._lock.notify_all()
        for popped in leased:
            self._start(popped)

    def _abort_asked(self, popped: list[Popped]) -> None:
        """A producer aborted requests: stop those of them running here."""
        with self._lock:
            ids = list(self._running) + [p.request_id for p in popped]
        try:
            found = self._ops.aborted(ids)
        except Exception as exc:
            log_event(_WARNING, "worker_abort_check_failed", worker=self.token, error=repr(exc))
            return
        if found:
            self._to_abort.update(found)
            log_event(_INFO, "worker_aborting", worker=self.token, requests=found)
        for request_id in found:
            with self._lock:
                running = self._running.get(request_id)
                future = None if running is None else running.future
            if future is not None:
                future.abort()  # type: ignore[attr-defined]

    def _start(self, popped: Popped) -> None:
        """Submit a leased request to an in-process scheduler (its slot is taken)."""
        try:
            request = decode_request(popped.payload, popped.priority)
            resolved = resolve_options(cast("OptionsInput", request.options))
            retry = resolved.retry if resolved.retry is not None else self.retry
            request.options["retry"] = 0  # retries wait in Redis, not on a worker thread
            method = resolved.method
            hosts = request.hosts if request.hosts is not None else self._hosts
            scheduler = self._local(hosts, request.breaker)
        except Exception as exc:  # anything a hostile payload makes the decoder raise
            log_event(
                _WARNING,
                "worker_unreadable_request",
                worker=self.token,
                request_id=popped.request_id,
                error=repr(exc)[:200],
            )
            self._done(popped.request_id, None, _unreadable(exc))
            return
        with self._lock:
            running = self._running.get(popped.request_id)
            if running is not None:
                running.retry = retry if isinstance(retry, RetryPolicy) else None
                running.method = method.value if isinstance(method, RequestMethod) else method
        try:
            future = scheduler.submit(request.url, cast("OptionsInput", request.options))
        except Exception as exc:  # 401, or what odd option values raise on the way
            self._done(
                popped.request_id, None, exc if isinstance(exc, HttpError) else _unreadable(exc)
            )
            return
        with self._lock:
            if running is not None:
                running.future = future
        future.add_done_callback(functools.partial(self._on_done, popped.request_id))
        if popped.request_id in self._to_abort:
            future.abort()

    def _local(
        self,
        hosts: tuple[tuple[str, ...] | None, tuple[str, ...]] | None,
        breaker: tuple[int, float] | None = None,
    ) -> Scheduler:
        """The in-process scheduler for requests with these host rules (checked on every hop)
        and this circuit breaker (its circuits shared in Redis by every worker)."""
        from netstack.scheduler import Scheduler

        key = (hosts, breaker)
        found = self._schedulers.get(key)
        if found is not None:
            return found
        if len(self._schedulers) >= _RULE_SETS:
            raise HttpError.parameter(
                f"hosts: this worker already serves {_RULE_SETS} different sets of host rules"
            )
        allowed, blocked = hosts if hosts is not None else (None, ())
        found = self._schedulers[key] = Scheduler(
            max_workers=self.workers,
            max_per_host=max(self.per_host, 1),
            cache=self._cache,
            name=f"netstack-worker-{self.name}",
            allowed_hosts=allowed,
            blocked_hosts=blocked or None,
        )
        if breaker is not None:
            policy = CircuitBreaker(*breaker)
            store = RedisBreakers(self._ops.client, self._ops.prefix, policy)
            found.jobs.guard = HostGuard(policy, None, found.max_per_host, store=store)
        return found

    def _on_done(self, request_id: int, future: Future[Any]) -> None:
        if future.cancelled():
            self._done(request_id, None, HttpError.of(ABORTED, "cancelled on the worker"))
            return
        error = future.exception()
        self._done(request_id, None if error is not None else future.result(), error)

    def _done(self, request_id: int, result: object, error: BaseException | None) -> None:
        """Queue the outcome for the fetcher's next call and free the slot."""
        from netstack.response import HttpResponse

        with self._lock:
            running = self._running.get(request_id)
            if request_id in self._returning:  # given back at stop: nothing to record
                self._returning.discard(request_id)
                self._free += 1
                self._lock.notify_all()
                return
        if running is None:
            return
        popped = running.popped
        if error is None and not isinstance(result, HttpResponse):
            error = HttpError.of(UNKNOWN, f"unexpected result {type(result).__name__}")
        delay = self._retry_delay(running, result, error)
        if delay is not None:
            self._report(Finished(request_id, "retry", "", popped.host, int(delay * 1000)))
            return
        if isinstance(result, HttpResponse) and popped.attempt > 1:
            result = dataclasses.replace(result, attempts=popped.attempt)
        elif isinstance(error, HttpError) and popped.attempt > 1:
            error.attempts = popped.attempt
        outcome = ""
        try:
            if popped.reply is not None:
                if error is None:
                    assert isinstance(result, HttpResponse)
                    outcome = encode_response(request_id, result)
                else:
                    outcome = encode_error(request_id, error)
        except Exception as exc:  # a response that cannot travel: its producer learns why
            error = HttpError.of(UNKNOWN, f"the outcome cannot travel as JSON: {exc!r}")
            outcome = encode_error(request_id, error)
        finished = Finished(
            request_id, "completed" if error is None else "failed", outcome, popped.host
        )
        self._report(finished)

    def _retry_delay(
        self, running: _Running, result: object, error: BaseException | None
    ) -> float | None:
        """Seconds before the next attempt when the request's retry policy says so."""
        policy = running.retry
        if policy is None or self._stop.is_set():
            return None
        try:
            found = policy.next_delay(
                running.popped.attempt,
                running.method,
                result,
                error,
                wall_now=time.time(),
                rand=_jitter.random(),
            )
        except Exception:  # a policy decision never takes the worker down
            return None
        return None if found is None else found[0]

    def _report(self, finished: Finished) -> None:
        """Queue an outcome (or a retry) for the fetcher's next call; the slot is free."""
        with self._lock:
            now = time.monotonic()
            if not self._outbox.items:
                self._outbox.since = now
            self._outbox.items.append((finished, now + self.lease))
            self._free += 1
            self._lock.notify_all()

    # -- leases ----------------------------------------------------------------

    def _renew(self) -> None:
        interval = self.lease / 3
        while not self._finished.wait(interval):
            with self._lock:
                ids = list(self._running)
            if not ids:
                continue
            try:
                lost = self._ops.renew(self.token, ids, self._lease_ms)
            except Exception as exc:
                log_event(_WARNING, "worker_renew_failed", worker=self.token, error=repr(exc))
                continue
            if lost:
                log_event(_INFO, "worker_lease_lost", worker=self.token, requests=lost)


def _rules(
    allowed: Iterable[str] | None, blocked: Iterable[str] | None
) -> tuple[tuple[str, ...] | None, tuple[str, ...]] | None:
    """The worker's own host rules, in the form requests carry them (None: none)."""
    if allowed is None and not blocked:
        return None
    if isinstance(allowed, str):
        allowed = [allowed]
    if isinstance(blocked, str):
        blocked = [blocked]
    return (None if allowed is None else tuple(allowed)), tuple(blocked or ())


def _payload(popped: Popped) -> str:
    """A lease's job as pushed (a worker pushes nothing; the backend's ``encode``)."""
    return popped.payload.decode("utf-8", "replace")


def _lease(popped: Popped) -> Popped:
    """A worker's item is the lease itself (the backend's ``decode``)."""
    return popped


def _unreadable(exc: BaseException) -> HttpError:
    return HttpError.parameter(
        f"the request's payload in Redis is unreadable ({type(exc).__name__}: "
        f"{str(exc)[:120]}); it was written by something other than netstack, or damaged"
    )


def _asdict(counts: WorkerCounts) -> dict[str, int]:
    return {
        "completed": counts.completed,
        "failed": counts.failed,
        "returned": counts.returned,
        "dropped": counts.dropped,
        "round_trips": counts.round_trips,
    }


def run_until_signal(worker: Worker) -> WorkerCounts:
    """Run ``worker`` in the main thread until SIGTERM or SIGINT, then stop gracefully."""
    import signal

    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        log_event(_INFO, "worker_stopping", worker=worker.token, signal=signal.Signals(signum).name)
        stop.set()

    previous = [signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)]
    try:
        return worker.run(stop)
    finally:
        for s, handler in zip((signal.SIGTERM, signal.SIGINT), previous, strict=True):
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(s, handler)
