"""Worker: a process that runs requests from a RedisQueue (``netstack worker``).

It runs the dispatcher over Redis: a :class:`~netstack.dispatch.state.Dispatcher`
and its :class:`~netstack.dispatch.pool.WorkerPool` (``workers`` threads),
whose backend is a :class:`~netstack.distributed.leases.LeaseBuffer` (a
``LeasedBackend``: its items are this worker's leases) and whose tickets are
the leases. Each thread runs a lease's :class:`~netstack.distributed.lease_job.LeaseJob`:
decode, ``netstack.call.prepare_call`` (options validated once, response
cache), the exchange, with the request's host rules (checked on every
redirect hop) and its circuit breaker (circuits shared in Redis). The pool's
retry rule (the request's ``RetryPolicy``, else the worker's ``retry``)
decides retries; a retry is recorded in Redis, where the backoff waits,
holding no thread. No second scheduler, no second future per lease.

Threads: one *fetcher* talks to Redis in batches, through the queue as a
dispatcher backend (``RedisBackend``, its items are the leases): each
``take`` (one Lua script, ``EXCHANGE``) records the outcomes the lease
buffer's outbox gathered since the last one and leases up to the number of
free threads plus ``prefetch`` (default 1.5) times as many (*prefetched*: a
thread that finishes a run takes the next lease from the buffer at once
instead of waiting for the fetcher's next round trip; a worker with one
thread prefetches nothing; ``prefetch=0`` leases only for free threads, so
nothing queued later at a higher priority waits behind this worker's
leases); the fetcher adds those leases to the buffer and calls the pool's
``tick``, so the dispatcher starts them. A prefetched lease is this
worker's: it holds its host slot in Redis and runs here (a request queued
later at a higher priority may wait behind it). A request of a paced host
is never prefetched: its pace counts from its lease, so only a worker with
a thread free to start it at once leases it. It calls when it has a free
thread to fill and no outcome to record, or outcomes to record: as many as
it prefetches (at least half its threads' worth), or the last running
one's, or any that waited four milliseconds; the outcomes finished while a
call is on the wire share the next one too. An ending lease wakes the
fetcher only when the outbox becomes worth a call (or holds its first
outcome, which starts the four milliseconds). So a busy worker makes one
call per a dozen or more requests and an idle one records each outcome at
once. When the queue is empty and nothing runs, it blocks on the queue's
wake list (BLPOP, a second at a time): an idle worker costs two Redis calls
a second and no CPU. One *renewer* extends this worker's leases every third
of ``lease`` seconds. The caller's thread waits for ``stop`` and logs health.
Producers' aborts come back in the exchange and become ``pool.abort``.

Leases: a request leased by a worker that then dies (kill -9, power loss)
returns to its place in the queue once its lease expires, and runs again:
delivery is *at least once*. Its outcome is still recorded once (see
``ops.py``). A stalled worker whose lease expired may finish too: the first
outcome wins, the later one is dropped.

Hostile data: a job whose payload cannot be decoded (not JSON, a 400-digit
number, nesting too deep, wrong types, invalid UTF-8) fails that one
request with HttpError 401 (its producer gets it), is logged once, and the
worker goes on; nothing a payload holds can stop a thread.

Stopping (``stop`` set, e.g. by SIGTERM): no new lease, no new retry;
leases no thread started are given back at once; running requests get
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
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from netstack.dispatch.pool import WorkerPool
from netstack.dispatch.state import Dispatcher
from netstack.dispatch.ticket import Ticket
from netstack.distributed.backend import RedisBackend
from netstack.distributed.connect import Backoff, connect_to, is_redis_error
from netstack.distributed.lease_job import LeaseJob, Runner
from netstack.distributed.leases import LeaseBuffer
from netstack.distributed.ops import MOST_PER_CALL, Exchanged, Finished, Popped, QueueOps
from netstack.distributed.policies import pace_of
from netstack.distributed.wire import encode_error, encode_response
from netstack.errors import ABORTED, UNKNOWN, HttpError
from netstack.hosts import HostRules
from netstack.log import log_event
from netstack.response import HttpResponse
from netstack.scheduler.local import retry_rule
from netstack.threads import start_daemon

if TYPE_CHECKING:
    from collections.abc import Iterable

    import redis

    from netstack.cache import HttpResponseCache
    from netstack.dispatch.job import RetryRule
    from netstack.politeness import PolitenessPolicy
    from netstack.retry import RetryPolicy

__all__ = ["Worker", "WorkerCounts"]

_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
#: Seconds an idle fetcher blocks on the wake list before looking again.
_IDLE_WAIT: Final = 1.0
#: Seconds between looks at an empty queue while some requests still run.
_POLL: Final = 0.1
#: Seconds an outcome may wait for others to share its call (when other requests run).
_LINGER: Final = 0.004
#: Seconds between calls of a worker busy with long requests (to hear of aborts).
_LOOK: Final = 0.5
#: Leases held beyond the threads, per thread, by default: a thread that finishes starts
#: the next buffered lease at once instead of waiting for the fetcher's next round trip,
#: and the outcomes of that many requests share one call.
PREFETCH: Final = 1.5

Outbox = list[tuple[Ticket, Finished, float]]


@dataclass(slots=True)
class WorkerCounts:
    """What one worker did since it started."""

    completed: int = 0
    failed: int = 0
    returned: int = 0
    dropped: int = 0  #: outcomes Redis had already (another worker finished first)
    round_trips: int = 0  #: Redis calls made


class _LeaseTicket(Ticket):
    """The pool's ticket of one lease; ``lease`` outlives the job (the outcome needs it)."""

    __slots__ = ("lease",)

    def __init__(self, job: LeaseJob) -> None:
        popped = job.popped
        super().__init__(job, popped.request_id, popped.priority, None)
        self.lease = popped


def _lease_of(ticket: Ticket) -> Popped:
    return cast("_LeaseTicket", ticket).lease


class Worker:
    """Runs the requests of RedisQueue ``name`` at ``url``; see the module docstring.

    ``url`` is a ``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://`` URL, or a ``redis.Redis`` client. ``prefetch``
    (0 to 16) is how many leases per thread it holds beyond its threads.
    ``retry``, ``politeness``, ``allowed_hosts`` and ``blocked_hosts`` apply to the
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
        prefetch: float = PREFETCH,
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
        if not 0 <= prefetch <= 16:
            raise HttpError.parameter(f"prefetch: must be between 0 and 16, got {prefetch}")
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
        self._next_due: float | None = None
        self._aborts = "0"
        self._last_call = 0.0
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.counts = WorkerCounts()
        self._ops = QueueOps(client, name)
        #: The queue in Redis; its items are this worker's leases (the fetcher's side).
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
        self._lease_ms = int(lease * 1000)
        self._lock = threading.Condition()
        #: Leases held beyond the threads (``free`` counts both; the rest are ready).
        self._prefetch = int(workers * prefetch) if workers > 1 else 0
        #: Leases not yet recorded nor given back: request id -> its ticket.
        self._running: dict[int, Ticket] = {}
        #: The leases as the dispatcher's backend (the pool's side); shares ``_lock``.
        self._leases: LeaseBuffer[Ticket] = LeaseBuffer(
            self._lock,
            _lease_of,
            self._give_back,
            free=workers + self._prefetch,
            lease=lease,
        )
        self._runner = Runner(
            self._ops,
            name=name,
            hosts=_rules(allowed_hosts, blocked_hosts),
            cache=cache,
            max_per_host=max(self.per_host, 1),
        )
        rule, always = retry_rule(retry)
        self._pool = WorkerPool(
            Dispatcher(self._leases, workers),
            name=f"netstack-worker-{name}",
            retry_rule=cast("RetryRule", rule),
            retry_all=always,
        )
        #: Outcomes that make a call at once (fewer wait up to _LINGER for company): as many
        #: as the buffer holds beyond the threads, so no thread waits for the call.
        self._batch = max(1, workers // 2, self._prefetch)
        self._starved = False
        self._stop = threading.Event()
        self._finished = threading.Event()

    # -- the life of a worker --------------------------------------------------

    def run(self, stop: threading.Event) -> WorkerCounts:
        """Work until ``stop`` is set, then stop gracefully; returns the counts."""
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
        self._pool.close(cancel_pending=True)
        self._pool.join()
        self._runner.close()
        self._finished.set()
        threads[1].join()
        self.counts.round_trips = self._ops.round_trips
        self._ops.client.close()
        log_event(_INFO, "worker_stopped", worker=self.token, **_asdict(self.counts))
        return self.counts

    def _drain(self, deadline: float) -> None:
        """Give back what has not started; let running requests finish until ``deadline``,
        then give back the rest and abort it. Every lease ends recorded or back in Redis."""
        self._return_waiting()
        with self._lock:
            while self._running and (remaining := deadline - time.monotonic()) > 0:
                self._lock.wait(remaining)
        self._return_waiting()  # leased by a call that was on the wire at stop
        with self._lock:
            left = list(self._running.values())
        if not left:
            return
        returned = self._leases.give_back(left)
        if returned:
            log_event(_INFO, "worker_returned", worker=self.token, requests=returned)
        self._pool.abort_running(HttpError.of(ABORTED, "the worker stopped; given back"))

    def _return_waiting(self) -> None:
        """Give back the leases no thread has started (the pool takes none after this)."""
        taken = self._pool.detach_all()
        if not taken:
            return
        returned = self._leases.give_back(taken)
        if returned:
            log_event(_INFO, "worker_returned", worker=self.token, requests=returned)
        self._pool.end_detached(taken)

    def _give_back(self, ids: list[int]) -> int:
        """The leases ``ids`` back to their place in Redis (LeaseBuffer's I/O)."""
        backoff = Backoff()
        returned = 0
        for _ in range(20):
            try:
                returned = self._ops.give_back(self.token, ids)
                break
            except Exception as exc:
                if not is_redis_error(exc):
                    raise
                time.sleep(backoff.next_delay())
        # else: their leases expire: at-least-once runs them again
        with self._lock:
            self.counts.returned += returned
            for request_id in ids:
                self._running.pop(request_id, None)
            self._lock.notify_all()
        return returned

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
        leases = self._leases
        while True:
            with self._lock:
                step = self._next_step()
                if step is None:
                    return
                if step == "block":
                    outbox: Outbox = []
                    want = 0
                else:  # at most MOST_PER_CALL of each per call; the rest go in the next
                    outbox = leases.outbox[:MOST_PER_CALL]
                    del leases.outbox[:MOST_PER_CALL]
                    want = 0 if self._stop.is_set() else min(leases.free, MOST_PER_CALL)
                    leases.free -= want
                    will_block = len(self._running) == len(outbox)
            if step == "block":
                was_idle = self._block(backoff)
                continue
            report = self._backend.report
            for _, finished, _ in outbox:
                report(finished)
            try:
                popped_now = self._backend.take(
                    time.monotonic(),
                    want,
                    idle=was_idle,
                    block=will_block,
                    ready=max(0, want - self._prefetch),
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
        leases = self._leases
        while True:
            stopping = self._stop.is_set()
            pending = len(leases.outbox)
            if stopping and not self._running and not pending:
                return None
            if pending and (
                stopping
                or pending >= self._batch
                or pending == len(self._running)
                or time.monotonic() - leases.since >= _LINGER
            ):
                return "exchange"
            if not pending and not stopping and leases.free > 0:  # (pending: let them gather)
                if not self._starved:
                    return "exchange"
                if not self._running:
                    return "block"
            if self._running and time.monotonic() - self._last_call >= _LOOK:
                return "exchange"  # busy with long requests: still hear about aborts
            poll = _POLL if self._next_due is None else max(0.01, min(_POLL, self._next_due))
            if pending:
                poll = max(0.0, leases.since + _LINGER - time.monotonic())
            # an ending lease wakes this wait only when it makes the outbox worth a call
            leases.wake_at = min(self._batch, len(self._running))
            if not self._lock.wait(poll) and not pending and leases.free > 0 and not stopping:
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
        self, exc: BaseException, outbox: Outbox, want: int, backoff: Backoff
    ) -> None:
        if backoff.failures == 0:
            event = "redis_unavailable" if is_redis_error(exc) else "worker_exchange_failed"
            log_event(_WARNING, event, role="worker", error=repr(exc)[:300])
        now = time.monotonic()
        lost = [entry for entry in outbox if entry[2] < now]
        leases = self._leases
        with self._lock:
            leases.free += want
            kept = [entry for entry in outbox if entry[2] >= now]
            leases.outbox[:0] = kept
            if kept:
                leases.since = now
            for ticket, finished, _ in lost:
                self._running.pop(finished.request_id, None)
                self._backend.unrecord(_lease_of(ticket))
            self._lock.notify_all()
        for _, finished, _ in lost:
            log_event(
                _WARNING,
                "worker_outcome_lost",
                request_id=finished.request_id,
                outcome="its lease expires and it runs again",
            )
        self._stop.wait(backoff.next_delay())

    def _exchanged(self, done: Exchanged, leased: list[Popped], outbox: Outbox, want: int) -> None:
        if self._epoch and done.epoch != self._epoch:
            log_event(_WARNING, "redis_state_lost", role="worker", queue=self.name)
            if self._per_host is not None:
                with contextlib.suppress(Exception):
                    self._ops.configure(self._per_host)
        self._epoch = done.epoch
        self._next_due = done.next_due
        for request_id in done.dropped:
            log_event(_WARNING, "worker_unreadable_job", worker=self.token, request_id=request_id)
        runner = self._runner
        tickets: list[Ticket] = [_LeaseTicket(LeaseJob(popped, runner)) for popped in leased]
        ended = self._ended
        for ticket in tickets:
            ticket.add_done_callback(ended)
        counts = self.counts
        recorded = self._backend.recorded
        with self._lock:
            for _, finished, _ in outbox:
                request_id = finished.request_id
                self._running.pop(request_id, None)
                if not recorded.get(request_id, True):
                    counts.dropped += 1
                elif finished.counter == "completed":
                    counts.completed += 1
                elif finished.counter == "failed":
                    counts.failed += 1
            self._leases.free += want - len(leased)
            self._starved = len(leased) < want
            running = self._running
            for ticket in tickets:
                running[ticket.request_id] = ticket
            self._lock.notify_all()
        if tickets:
            self._leases.add(tickets)
        if done.aborts != self._aborts:
            self._aborts = done.aborts
            self._abort_asked()
        if tickets:
            self._pool.tick()

    def _abort_asked(self) -> None:
        """A producer aborted requests: stop those of them leased here."""
        with self._lock:
            ids = list(self._running)
        try:
            found = self._ops.aborted(ids)
        except Exception as exc:
            log_event(_WARNING, "worker_abort_check_failed", worker=self.token, error=repr(exc))
            return
        if not found:
            return
        log_event(_INFO, "worker_aborting", worker=self.token, requests=found)
        for request_id in found:
            with self._lock:
                ticket = self._running.get(request_id)
            if ticket is not None:
                self._pool.abort(ticket, HttpError.of(ABORTED), cancel_waiting=False)

    # -- outcomes --------------------------------------------------------------

    def _ended(self, future: Future[Any]) -> None:
        """A lease's ticket settled (on a pool thread): its outcome goes to the outbox."""
        ticket = cast("_LeaseTicket", future)
        popped = ticket.lease
        result: object = None
        error: BaseException | None = None
        try:
            result = ticket.result()  # an ended ticket's result takes no lock
        except CancelledError:  # given back at stop before it started
            error = HttpError.of(ABORTED, "cancelled on the worker")
        except BaseException as exc:  # the run's error, as the pool settled it
            error = exc
        else:
            if not isinstance(result, HttpResponse):
                error = HttpError.of(UNKNOWN, f"unexpected result {type(result).__name__}")
        if isinstance(error, HttpError) and popped.attempt > error.attempts:
            error.attempts = popped.attempt
        outcome = ""
        try:
            if popped.reply is not None:
                if error is None:
                    assert isinstance(result, HttpResponse)
                    outcome = encode_response(popped.request_id, result)
                else:
                    outcome = encode_error(popped.request_id, error)
        except Exception as exc:  # a response that cannot travel: its producer learns why
            error = HttpError.of(UNKNOWN, f"the outcome cannot travel as JSON: {exc!r}")
            outcome = encode_error(popped.request_id, error)
        self._leases.finish(ticket, outcome, failed=error is not None)

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
