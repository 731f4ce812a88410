"""Worker: a process that runs requests from a RedisQueue (``netstack worker``).

Threads: one *fetcher* leases requests whenever ``workers`` slots are
free (up to 16 in one call) (it blocks on the queue's wake list when nothing is ready, so
an idle worker costs one Redis call a second), and submits it to an
in-process :class:`~netstack.Scheduler` (the usual machinery: transport,
response cache, retries); the request's done-callback records the outcome
in Redis and frees the slot. One *renewer* extends this worker's leases
every third of ``lease`` seconds. The caller's thread waits for ``stop`` and
logs health.

Leases: a request leased by a worker that then dies (kill -9, power loss)
returns to its place in the queue once its lease expires, and runs again:
delivery is *at least once*. Its outcome is still recorded once (see
``ops.py``). A stalled worker whose lease expired may finish too: the first
outcome wins, the later one is dropped.

Stopping (``stop`` set, e.g. by SIGTERM): no new lease; running requests get
``grace`` seconds to finish and be recorded; the ones still running after
that are given back to the queue (their place and priority kept), then
aborted. Nothing is lost: every leased request ends recorded or back in the
queue.

Redis lost: the fetcher and the renewer retry with exponential backoff
(0.1 s to 5 s) and log once per outage; an outcome that cannot be recorded
is retried until its lease would have expired (then another worker runs it
again). The process never spins and never crashes for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from netstack.distributed.connect import Backoff, connect, is_redis_error, safe_url
from netstack.distributed.ops import Popped, QueueOps
from netstack.distributed.redis_queue import RESULT_TTL
from netstack.distributed.wire import WireRequest, decode_request, encode_error, encode_response
from netstack.errors import ABORTED, UNKNOWN, HttpError
from netstack.log import log_event

if TYPE_CHECKING:
    from concurrent.futures import Future

    from netstack.cache import HttpResponseCache
    from netstack.scheduler import Scheduler

__all__ = ["Worker", "WorkerCounts"]

_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
#: Seconds an idle fetcher blocks on the wake list before popping again.
_IDLE_WAIT: Final = 1.0
#: Requests leased in one call at most (one round trip for a burst of free slots).
_POP_BATCH: Final = 16


@dataclass(slots=True)
class WorkerCounts:
    """What one worker did since it started."""

    completed: int = 0
    failed: int = 0
    returned: int = 0
    dropped: int = 0  #: outcomes Redis had already (another worker finished first)


@dataclass(slots=True)
class _Running:
    popped: Popped
    request: WireRequest
    future: Future[Any] | None = None


class Worker:
    """Runs the requests of RedisQueue ``name`` at ``url``; see the module docstring."""

    def __init__(
        self,
        url: str,
        name: str = "netstack",
        *,
        workers: int = 8,
        per_host: int | None = None,
        lease: float = 30.0,
        grace: float = 30.0,
        cache: HttpResponseCache | None = None,
        health_interval: float = 30.0,
    ) -> None:
        if workers < 1:
            raise HttpError.parameter(f"workers: must be >= 1, got {workers}")
        if lease < 0.3:
            raise HttpError.parameter(f"lease: must be >= 0.3 seconds, got {lease}")
        self.url = url
        self.name = name
        self.workers = workers
        self.lease = lease
        self.grace = grace
        self.health_interval = health_interval
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.counts = WorkerCounts()
        self._ops = QueueOps(connect(url, max_connections=None), name)
        if per_host is not None:
            self._ops.configure(per_host)
        self.per_host = self._ops.max_per_host()
        self._cache = cache
        self._lease_ms = int(lease * 1000)
        self._lock = threading.Condition()
        self._running: dict[int, _Running] = {}
        self._returning: set[int] = set()
        self._slots = threading.Semaphore(workers)
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._scheduler: Scheduler | None = None

    # -- the life of a worker --------------------------------------------------

    def run(self, stop: threading.Event) -> WorkerCounts:
        """Work until ``stop`` is set, then stop gracefully; returns the counts."""
        from netstack.scheduler import Scheduler

        self._scheduler = Scheduler(
            max_workers=self.workers,
            max_per_host=max(self.per_host, 1),
            cache=self._cache,
            name=f"netstack-worker-{self.name}",
        )
        threads = [
            threading.Thread(target=self._fetch, name="netstack-worker-fetch", daemon=True),
            threading.Thread(target=self._renew, name="netstack-worker-renew", daemon=True),
        ]
        for thread in threads:
            thread.start()
        log_event(
            _INFO,
            "worker_started",
            worker=self.token,
            redis=safe_url(self.url),
            queue=self.name,
            workers=self.workers,
            per_host=self.per_host,
            lease=self.lease,
        )
        while not stop.wait(self.health_interval):
            self._health()
        self._stop.set()
        self._drain(time.monotonic() + self.grace)
        threads[0].join()  # within a second (its idle wait); it starts nothing now
        self._scheduler.shutdown(wait=True)
        self._finished.set()
        threads[1].join()
        self._ops.client.close()
        log_event(_INFO, "worker_stopped", worker=self.token, **_asdict(self.counts))
        return self.counts

    def _drain(self, deadline: float) -> None:
        """Let running requests finish until ``deadline``, then give back the rest."""
        with self._lock:
            while self._running and (remaining := deadline - time.monotonic()) > 0:
                self._lock.wait(remaining)
            left = dict(self._running)
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
        scheduler = self._scheduler
        assert scheduler is not None
        for running in left.values():
            if running.future is not None:
                scheduler._abort(running.future)  # type: ignore[arg-type]

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
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.25):
                continue
            free = 1
            while free < _POP_BATCH and self._slots.acquire(blocking=False):
                free += 1
            try:
                found = (
                    []
                    if self._stop.is_set()
                    else self._ops.pop_many(self.token, self._lease_ms, free)
                )
            except Exception as exc:
                if not is_redis_error(exc):
                    raise
                found = None
                if backoff.failures == 0:
                    log_event(_WARNING, "redis_unavailable", role="worker", error=repr(exc))
            for _ in range(free - len(found or ())):
                self._slots.release()
            if found is None:
                self._stop.wait(backoff.next_delay())
                continue
            if backoff.failures:
                log_event(_INFO, "redis_reconnected", role="worker")
                backoff.reset()
            if found and self._stop.is_set():  # leased as the stop came: back at once
                self._give_back_now(found)
                continue
            for popped in found:
                self._start(popped)
            if not found and not self._stop.is_set():
                self._idle_wait(backoff)

    def _give_back_now(self, found: list[Popped]) -> None:
        try:
            returned = self._ops.give_back(self.token, [p.request_id for p in found])
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            returned = 0  # their leases expire: at-least-once runs them again
        finally:
            for _ in found:
                self._slots.release()
        with self._lock:
            self.counts.returned += returned

    def _idle_wait(self, backoff: Backoff) -> None:
        """Nothing ready: block on the wake list (or until Redis answers again)."""
        try:
            self._ops.wait(_IDLE_WAIT)
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            if backoff.failures == 0:
                log_event(_WARNING, "redis_unavailable", role="worker", error=repr(exc))
            self._stop.wait(backoff.next_delay())

    def _start(self, popped: Popped) -> None:
        """Submit a leased request to the in-process scheduler (its slot is taken)."""
        try:
            request = decode_request(popped.payload, popped.priority)
        except (ValueError, TypeError) as exc:
            request = WireRequest("", {}, None, 0.0)
            try:
                self._record(popped, request, None, HttpError.parameter(f"unreadable: {exc}"))
            finally:
                self._slots.release()
            return
        running = _Running(popped, request)
        with self._lock:
            self._running[popped.request_id] = running
        scheduler = self._scheduler
        assert scheduler is not None
        try:
            future = scheduler.submit(request.url, request.options)
        except HttpError as error:  # 401: options this worker's version rejects
            self._done(running, None, error)
            return
        running.future = future
        future.add_done_callback(functools.partial(self._on_done, running))

    def _on_done(self, running: _Running, future: Future[Any]) -> None:
        if future.cancelled():
            self._done(running, None, HttpError.of(ABORTED, "cancelled on the worker"))
            return
        error = future.exception()
        self._done(running, None if error is not None else future.result(), error)

    def _done(self, running: _Running, result: object, error: BaseException | None) -> None:
        request_id = running.popped.request_id
        try:
            with self._lock:
                returning = request_id in self._returning
            if not returning:
                self._record(running.popped, running.request, result, error)
        finally:
            with self._lock:
                self._running.pop(request_id, None)
                self._returning.discard(request_id)
                self._lock.notify_all()
            self._slots.release()

    def _record(
        self, popped: Popped, request: WireRequest, result: object, error: BaseException | None
    ) -> None:
        """Record the outcome, retrying while Redis is away (until the lease would expire)."""
        from netstack.response import HttpResponse

        if error is None and not isinstance(result, HttpResponse):
            error = HttpError.of(UNKNOWN, f"unexpected result {type(result).__name__}")
        counter = "completed" if error is None else "failed"
        outcome = ""
        if request.reply is not None:
            if error is None:
                assert isinstance(result, HttpResponse)
                outcome = encode_response(popped.request_id, result)
            else:
                outcome = encode_error(popped.request_id, error)
        deadline = time.monotonic() + self.lease
        backoff = Backoff()
        while True:
            try:
                recorded = self._ops.finish(
                    popped.request_id, counter, request.reply, outcome, RESULT_TTL
                )
                break
            except Exception as exc:
                if not is_redis_error(exc):
                    raise
                if time.monotonic() > deadline:
                    log_event(
                        _WARNING,
                        "worker_outcome_lost",
                        request_id=popped.request_id,
                        error=repr(exc),
                        outcome="its lease expires and it runs again",
                    )
                    return
                time.sleep(backoff.next_delay())
        with self._lock:
            if not recorded:
                self.counts.dropped += 1
            elif error is None:
                self.counts.completed += 1
            else:
                self.counts.failed += 1

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
                if not is_redis_error(exc):
                    raise
                log_event(_WARNING, "worker_renew_failed", worker=self.token, error=repr(exc))
                continue
            if lost:
                log_event(_INFO, "worker_lease_lost", worker=self.token, requests=lost)


def _asdict(counts: WorkerCounts) -> dict[str, int]:
    return {
        "completed": counts.completed,
        "failed": counts.failed,
        "returned": counts.returned,
        "dropped": counts.dropped,
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
