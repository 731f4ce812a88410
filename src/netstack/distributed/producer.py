"""Producer: the Scheduler side of a RedisQueue, and the futures it hands out.

``submit`` runs the usual ``prepare_call`` on the caller's thread (401s,
the producer's own cache), then pushes the request to Redis in one script
call. Outcomes come back on this producer's own list in Redis
(``reply:<token>``): one listener thread BLPOPs it and resolves the futures,
outside the producer's lock (done-callbacks may submit). The listener runs
while results are due and stops when none are; Redis lost makes it retry
with backoff (outcomes wait in Redis meanwhile), never spin.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any, Final, Protocol

from netstack.dispatch.ticket import cancel_quietly as cancel_withdrawn
from netstack.dispatch.ticket import resolve
from netstack.distributed.connect import Backoff, is_redis_error, redis_error
from netstack.distributed.ops import RESULT_TTL, Pushed, QueueOps
from netstack.distributed.policies import Policies
from netstack.distributed.wire import decode_outcome, encode_request
from netstack.errors import ABORTED, RECEIVE_FAILED, UNKNOWN, HttpError
from netstack.log import log_event
from netstack.options import DEFAULT_OPTIONS, HttpRequestOptions
from netstack.scheduler.future import RequestFuture
from netstack.threads import start_daemon
from netstack.validation import check_priority

if TYPE_CHECKING:
    from collections.abc import Callable

    from netstack.response import HttpResponse
    from netstack.scheduler import Scheduler, SchedulerStats
    from netstack.scheduler.job import Job

__all__ = ["Producer", "ProducerQueue", "RemoteFuture"]

_INFO: Final = logging.INFO
_WARNING: Final = logging.WARNING
#: Requests pushed per script call (a batch larger than this is several calls).
_CHUNK: Final = 1000
#: Seconds the listener blocks on its list before checking whether to stop.
_LISTEN: Final = 1.0
#: Seconds between two audits of waiting requests (is each still held by Redis?).
_AUDIT: Final = 5.0
_STOP: Final = b"stop"
#: The notice a cancel in Redis leaves on the request's producer list.
_CANCELLED: Final = b'{"cancelled":true,"id":'

_local_ids = itertools.count(1)


class RemoteFuture(RequestFuture[Any]):
    """A request queued in Redis: ``request_id`` is its id there.

    ``cancel()`` and ``set_priority()`` act in Redis while the request waits.
    """

    __slots__ = ("_producer",)

    def __init__(
        self, producer: Producer, scheduler: Scheduler, priority: int, tag: str | None
    ) -> None:
        super().__init__(scheduler, None, 0, priority, tag)
        self._producer = producer

    def set_priority(self, priority: int) -> None:
        self._producer.set_priority(self, priority)

    def cancel(self) -> bool:
        return self._producer.cancel(self)


class _Waiting:
    """One thread's requests waiting for a shared push."""

    __slots__ = ("error", "finished", "ids", "items")

    def __init__(self, items: list[Pushed]) -> None:
        self.items = items
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self.finished = False


class ProducerQueue(Protocol):
    """What a producer needs of the queue that made it (a ``RedisQueue``).

    A Protocol, so this module does not import ``redis_queue`` (which builds
    producers): no import cycle inside ``netstack.distributed``.
    """

    @property
    def url(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def want_results(self) -> bool: ...

    def close(self) -> None: ...


class Producer:
    """Submits to a RedisQueue and resolves futures from the outcomes workers record."""

    def __init__(self, queue: ProducerQueue, ops: QueueOps, scheduler: Scheduler) -> None:
        self._queue = queue
        self._ops = ops
        self._policies = Policies.of(scheduler)
        self._url = queue.url
        self._scheduler = scheduler
        self._token = uuid.uuid4().hex
        self._reply = self._token if queue.want_results else None
        self._lock = threading.Lock()
        self._pending: dict[int, RemoteFuture] = {}
        self._early: dict[int, bytes] = {}  # outcomes that beat their push's reply
        self._abandoned: set[int] = set()  # aborted locally; their outcome is dropped
        self._tags: set[str] = set()  # tags this producer used: stats().tags reports them
        self._push_turn = threading.Condition()
        self._to_push: list[_Waiting] = []
        self._pushing = False
        self._listener: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._submitted = self._completed = self._failed = 0
        self._cancelled = self._cache_hits = 0
        #: The queue's epoch in Redis when this producer last looked; None before.
        self._epoch: str | None = None
        #: Waiting request ids still to audit in this round (a chunk per audit).
        self._to_audit: list[int] = []
        #: DEFAULT_OPTIONS with the scheduler's retry policy (built on first use).
        self._default_with_retry: HttpRequestOptions | None = None

    # -- submitting ------------------------------------------------------------

    def submit_job(
        self,
        job: Job,
        add_callback: Callable[[Future[Any]], object] | None = None,
    ) -> RequestFuture[Any]:
        return self.submit_jobs([job], add_callback)[0]

    def submit_jobs(
        self,
        jobs: Sequence[Job],
        add_callback: Callable[[Future[Any]], object] | None = None,
    ) -> list[RequestFuture[Any]]:
        """Queue prepared jobs; a 401 for any of them leaves nothing queued."""
        scheduler = self._scheduler
        futures, pushes = self._encode(jobs, add_callback)
        if scheduler.jobs.closed:
            raise scheduler.jobs.shutdown_error()
        queued = [(f, j) for f, j in zip(futures, jobs, strict=True) if not j.settled]
        try:
            ids = self._push(pushes) if pushes else []
        except Exception as exc:
            if is_redis_error(exc):
                raise redis_error(self._url, "submit failed", exc) from exc
            raise
        early = self._register(len(jobs), [f for f, _ in queued], ids)
        for future, job in zip(futures, jobs, strict=True):
            if job.settled:
                self._settle(future, job)
            elif self._reply is None:
                future.set_result(None)
        for future, outcome in early:
            self._deliver(future, outcome)
        if queued:
            log_event(logging.DEBUG, "queued_remote", queue=self._queue.name, requests=len(queued))
        return list(futures)

    def _push(self, pushes: list[Pushed]) -> list[int]:
        """Push to Redis, sharing the call with other threads submitting at the same time.

        Group commit: while one thread's push is on the wire, the others'
        wait; the next of them to run pushes everything that piled up in one
        call. A burst of submits from many threads takes a few round trips.
        """
        mine = _Waiting(pushes)
        with self._push_turn:
            self._to_push.append(mine)
            while not mine.finished and self._pushing:
                self._push_turn.wait()
            if mine.finished:
                batch: list[_Waiting] = []
            else:
                self._pushing = True
                batch, self._to_push = self._to_push, []
        if batch:
            try:
                self._push_batch(batch)
            finally:
                with self._push_turn:
                    self._pushing = False
                    for waiting in batch:
                        waiting.finished = True
                    self._push_turn.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.ids

    def _push_batch(self, batch: list[_Waiting]) -> None:
        items = [item for waiting in batch for item in waiting.items]
        ids: list[int] = []
        try:
            for start in range(0, len(items), _CHUNK):
                epoch, chunk = self._ops.push(
                    items[start : start + _CHUNK], self._reply, uuid.uuid4().hex
                )
                self._check_epoch(epoch)
                ids += chunk
        except Exception as exc:  # each waiting thread raises it (2300007 for Redis trouble)
            for waiting in batch:  # those wholly pushed before the failure still get their ids
                if len(ids) >= len(waiting.items):
                    waiting.ids, ids = ids[: len(waiting.items)], ids[len(waiting.items) :]
                else:
                    waiting.error, ids = exc, []
            return
        for waiting in batch:
            waiting.ids, ids = ids[: len(waiting.items)], ids[len(waiting.items) :]

    def _register(
        self, submitted: int, queued: list[RemoteFuture], ids: list[int]
    ) -> list[tuple[RemoteFuture, bytes]]:
        """Count and track pushed futures; those whose outcome already came back."""
        early: list[tuple[RemoteFuture, bytes]] = []
        with self._lock:
            self._submitted += submitted
            for future, request_id in zip(queued, ids, strict=True):
                future.request_id = request_id
                if self._reply is None:
                    self._completed += 1
                    continue
                outcome = self._early.pop(request_id, None)
                if outcome is None:
                    self._pending[request_id] = future
                else:
                    early.append((future, outcome))
            if self._reply is not None and self._pending:
                self._ensure_listener()
        return early

    def _encode(
        self, jobs: Sequence[Job], add_callback: Callable[[Future[Any]], object] | None
    ) -> tuple[list[RemoteFuture], list[Pushed]]:
        """The futures of ``jobs`` and the pushes of those not settled (401s raised here)."""
        futures: list[RemoteFuture] = []
        pushes: list[Pushed] = []
        for job in jobs:
            priority = check_priority(job.priority)
            emitter = getattr(job, "_emitter", None)
            if emitter is not None and getattr(emitter, "_listeners", None):
                raise HttpError.parameter(
                    "events: per-request events fire on the worker and cannot travel "
                    "to a Redis queue; submit without listeners"
                )
            tag = getattr(job, "tag", None)
            if tag is not None:
                self._tags.add(tag)
            future = RemoteFuture(self, self._scheduler, priority, tag)
            future.request_id = -next(_local_ids)  # until Redis gives it an id
            if add_callback is not None:
                future._done_callbacks.append(add_callback)
            futures.append(future)
            if not job.settled:
                options = getattr(job, "options", None)
                if options is None:
                    raise HttpError.parameter("job: only requests can be queued in Redis")
                if options.retry is None and self._policies.retry is not None:
                    options = self._with_retry(options)
                payload = encode_request(
                    job.url,
                    options,
                    reply=self._reply,
                    hosts=self._policies.hosts,
                    breaker=self._policies.breaker,
                )
                host = job.host_key
                pushes.append(
                    Pushed(
                        host,
                        priority,
                        payload,
                        tag,
                        self._policies.pace(host),
                        self._policies.aging,
                    )
                )
        return futures, pushes

    def _with_retry(self, options: HttpRequestOptions) -> HttpRequestOptions:
        """``options`` with the scheduler's retry policy; the defaults' copy is made once."""
        if options is not DEFAULT_OPTIONS:
            return dataclasses.replace(options, retry=self._policies.retry)
        if self._default_with_retry is None:
            self._default_with_retry = dataclasses.replace(options, retry=self._policies.retry)
        return self._default_with_retry

    def _settle(self, future: RemoteFuture, job: Job) -> None:
        """A job settled at prepare time (a fresh hit of the producer's cache, a bad URL)."""
        error = job.settled_error
        with self._lock:
            if error is None:
                self._completed += 1
                self._cache_hits += int(job.from_cache)
            else:
                self._failed += 1
        if error is None:
            future.set_result(job.settled_result)
        else:
            future.set_exception(error)

    # -- changing queued requests ----------------------------------------------

    def cancel(self, future: RemoteFuture) -> bool:
        with self._lock:
            if self._pending.get(future.request_id) is not future:
                return future.cancelled()
        try:
            taken = self._ops.cancel([future.request_id])[0]
        except Exception as exc:
            if is_redis_error(exc):
                raise redis_error(self._url, "cancel failed", exc) from exc
            raise
        if not taken:
            return False
        self._cancelled_in_redis([future.request_id])
        return True

    def _cancelled_in_redis(self, ids: Sequence[int]) -> None:
        """Settle the futures of requests cancelled in Redis (their notices are dropped)."""
        cancelled = []
        with self._lock:
            for request_id in ids:
                future = self._pending.pop(request_id, None)
                if future is not None:
                    cancelled.append(future)
                    self._cancelled += 1
                if self._reply is not None:
                    self._abandoned.add(request_id)
        for future in cancelled:
            cancel_withdrawn(future)

    def cancel_tag(self, tag: str) -> int:
        """Cancel every request of ``tag`` waiting in Redis, whichever producer sent it."""
        ids = self._tagged("cancel_all", lambda: self._ops.cancel_tag(tag))
        self._cancelled_in_redis(ids)
        return len(ids)

    def set_priority_tag(self, tag: str, priority: int) -> int:
        """Move every request of ``tag`` waiting in Redis to ``priority``; how many."""
        check_priority(priority)
        ids = self._tagged("set_priority_all", lambda: self._ops.set_priority_tag(tag, priority))
        with self._lock:
            for request_id in ids:
                future = self._pending.get(request_id)
                if future is not None:
                    future._priority = priority
        return len(ids)

    def _tagged(self, what: str, operation: Callable[[], list[int]]) -> list[int]:
        try:
            return operation()
        except Exception as exc:
            if is_redis_error(exc):
                raise redis_error(self._url, f"{what} failed", exc) from exc
            raise

    def set_priority(self, future: RequestFuture[Any], priority: int) -> None:
        check_priority(priority)
        if not isinstance(future, RemoteFuture) or future._producer is not self:
            raise HttpError.parameter("future: not a request of this scheduler")
        if future.done() or future.request_id <= 0:
            return
        try:
            moved = self._ops.set_priority(future.request_id, priority)
        except Exception as exc:
            if is_redis_error(exc):
                raise redis_error(self._url, "set_priority failed", exc) from exc
            raise
        if moved:
            future._priority = priority

    def abort(
        self,
        future: RequestFuture[Any],
        error: BaseException | None = None,
        cancel_waiting: bool = True,
    ) -> None:
        """End a request now: ``HttpRequest.destroy()``, ``abort()``, a ``total_timeout``.

        Waiting in Redis: taken out, then cancelled (``cancel_waiting``) or
        failed with ``error`` (default HttpError 2300042). Running on a
        worker: failed here now, and the worker aborts it at its next call to
        Redis (its outcome is dropped here).
        """
        if not isinstance(future, RemoteFuture) or future.done():
            return
        if cancel_waiting and self.cancel(future):
            return
        if not cancel_waiting:
            with self._lock:
                waiting = self._pending.get(future.request_id) is future
            if waiting:
                with contextlib.suppress(Exception):  # Redis away: it is failed here anyway
                    self._ops.cancel([future.request_id])
        with self._lock:
            if self._pending.pop(future.request_id, None) is None:
                return
            self._abandoned.add(future.request_id)
            self._failed += 1
        with contextlib.suppress(InvalidStateError):
            future.set_exception(error if error is not None else HttpError.of(ABORTED))
        with contextlib.suppress(Exception):  # Redis away: the request just runs to its end
            self._ops.abort_running(future.request_id)

    # -- outcomes --------------------------------------------------------------

    def _ensure_listener(self) -> None:
        """Under the lock: start the listener unless it runs."""
        thread = self._listener
        if thread is None or not thread.is_alive():
            self._listener = start_daemon(self._listen, f"{self._scheduler.name}-redis-results")

    def _listen(self) -> None:
        backoff = Backoff()
        next_check = time.monotonic() + _LISTEN
        next_audit = time.monotonic() + _AUDIT
        while True:
            with self._lock:
                if not self._pending or self._closed:
                    self._listener = None
                    return
            try:
                items = self._ops.results(self._token, _LISTEN)
                if items:  # settled before anything else can fail: they left Redis
                    self._on_outcomes(items)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + _LISTEN
                    self._check_epoch(self._ops.epoch())
                if time.monotonic() >= next_audit:
                    next_audit = time.monotonic() + _AUDIT
                    self._audit()
            except Exception as exc:  # the listener never dies while results are due
                if self._closed:
                    continue
                delay = backoff.next_delay()
                if backoff.failures == 1:
                    log_event(_WARNING, "redis_unavailable", role="producer", error=repr(exc))
                threading.Event().wait(delay)
                next_check = 0.0  # back: first look whether Redis kept the queue
                continue
            if backoff.failures:
                log_event(_INFO, "redis_reconnected", role="producer")
                backoff.reset()

    def _audit(self) -> None:
        """Fail the waiting requests whose entry Redis no longer holds, a chunk at a time.

        A request whose entry is gone ended (its outcome was pushed on this
        producer's list when the entry was removed, in the same script: read
        first) or was lost: dropped by a worker as unreadable, or deleted by
        something other than netstack. A lost one's outcome will never come;
        HttpError 2300056 says so.
        """
        with self._lock:
            if not self._to_audit:
                self._to_audit = list(self._pending)
            chunk = [i for i in self._to_audit[-_CHUNK:] if i in self._pending]
            del self._to_audit[-_CHUNK:]
        missing = self._ops.missing(chunk)
        if not missing:
            return
        for _ in range(len(self._pending) // _CHUNK + 2):  # the list up to now: the
            ended = self._ops.results_now(self._token, _CHUNK)  # ended ones' outcomes
            if ended:
                self._on_outcomes(ended)
            if len(ended) < _CHUNK:
                break
        with self._lock:
            lost = [f for f in map(self._pending.pop, missing, itertools.repeat(None)) if f]
            self._failed += len(lost)
        if lost:
            self._fail_lost(
                lost,
                "redis_request_lost",
                "no longer holds this request (its entry was unreadable and dropped, or "
                "deleted by something other than netstack)",
            )

    def _check_epoch(self, epoch: str | None) -> None:
        """Fail every pending future if Redis lost the queue (its epoch changed or vanished).

        Their outcomes can never come: the requests are gone from Redis
        (restarted without persistence, flushed, failed over to an empty
        replica). HttpError 2300056 says so; the caller may submit again.
        """
        with self._lock:
            known, self._epoch = self._epoch, epoch
            if known is None or epoch == known or not self._pending:
                return
            lost = list(self._pending.values())
            self._pending.clear()
            self._early.clear()
            self._failed += len(lost)
        self._fail_lost(
            lost,
            "redis_state_lost",
            "lost its state (Redis restarted without persistence, was flushed, or failed "
            "over to an empty replica)",
        )

    def _fail_lost(self, lost: list[RemoteFuture], event: str, what: str) -> None:
        """End futures whose outcome can never come with HttpError 2300056 saying ``what``."""
        log_event(
            _WARNING,
            event,
            role="producer",
            queue=self._queue.name,
            requests=len(lost),
            ids=[f.request_id for f in lost[:20]],
        )
        error = (
            f"redis {self._url}: the queue {self._queue.name!r} {what}: this request's "
            "outcome will never come; submit it again"
        )
        for future in lost:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(HttpError.of(RECEIVE_FAILED, error))

    def _on_outcomes(self, items: list[bytes]) -> None:
        """Settle the futures of one read's outcomes: decoded first, then one lock for all."""
        decoded = self._decode(items)
        if not decoded:
            return
        settle: list[tuple[RemoteFuture, HttpResponse | None, HttpError | None]] = []
        with self._lock:
            pending, abandoned = self._pending, self._abandoned
            for raw, (request_id, response, error) in decoded:
                future = pending.pop(request_id, None)
                if future is None:
                    if request_id in abandoned:
                        abandoned.discard(request_id)
                    else:
                        self._early[request_id] = raw
                    continue
                if error is None:
                    self._completed += 1
                    if response is not None and response.from_cache:
                        self._cache_hits += 1
                else:
                    self._failed += 1
                settle.append((future, response, error))
        for future, response, error in settle:
            resolve(future, response, error)

    def _decode(
        self, items: list[bytes]
    ) -> list[tuple[bytes, tuple[int, HttpResponse | None, HttpError | None]]]:
        """The outcomes among ``items``, decoded (cancel notices handled, damage logged)."""
        decoded = []
        for raw in items:
            if raw == _STOP:
                continue
            if raw.startswith(_CANCELLED):
                self._on_cancelled(raw)
                continue
            try:
                decoded.append((raw, decode_outcome(raw)))
            except Exception as exc:  # whatever a damaged outcome raises
                log_event(_WARNING, "redis_outcome_unreadable", error=repr(exc)[:200])
        return decoded

    def _on_cancelled(self, raw: bytes) -> None:
        """Another process cancelled one of this producer's requests in Redis."""
        try:
            request_id = int(raw[len(_CANCELLED) :].rstrip(b"}"))
        except ValueError:
            return
        with self._lock:
            future = self._pending.pop(request_id, None)
            if future is None:
                if request_id in self._abandoned:
                    self._abandoned.discard(request_id)
                else:
                    self._early[request_id] = raw
                return
            self._cancelled += 1
        cancel_withdrawn(future)

    def _deliver(self, future: RemoteFuture, raw: bytes) -> None:
        """An outcome that came back before its push's reply (kept raw in ``_early``)."""
        if raw.startswith(_CANCELLED):
            with self._lock:
                self._cancelled += 1
            cancel_withdrawn(future)
            return
        try:
            _, response, error = decode_outcome(raw)
        except Exception as exc:  # a damaged outcome still ends its future
            response, error = None, HttpError.of(UNKNOWN, f"unreadable outcome: {exc!r}")
        with self._lock:
            if error is None:
                self._completed += 1
                self._cache_hits += int(response is not None and response.from_cache)
            else:
                self._failed += 1
        resolve(future, response, error)

    # -- state -----------------------------------------------------------------

    def stats(self) -> SchedulerStats:
        """This producer's counters; ``queued`` are in Redis, waiting or running."""
        from netstack.dispatch.tags import TagStats
        from netstack.scheduler import SchedulerStats

        tags = {}
        for tag in sorted(self._tags):
            try:
                c = self._ops.tag_counts(tag)
            except Exception as exc:
                if is_redis_error(exc):
                    raise redis_error(self._url, "stats failed", exc) from exc
                raise
            tags[tag] = TagStats(
                submitted=c["submitted"],
                queued=max(0, c["live"] - c["running"]),
                running=c["running"],
                completed=c["completed"],
                failed=c["failed"],
                cancelled=c["cancelled"],
            )
        with self._lock:
            return SchedulerStats(
                submitted=self._submitted,
                queued=len(self._pending),
                running=0,
                completed=self._completed,
                failed=self._failed,
                cancelled=self._cancelled,
                cache_hits=self._cache_hits,
                tags=tags,
            )

    def shutdown(self, wait: bool, cancel_pending: bool) -> None:
        """Stop: cancel what waits (``cancel_pending``), wait for the rest (``wait``)."""
        with self._lock:
            self._closing = True
            pending = list(self._pending.values())
        if cancel_pending and pending:
            for start in range(0, len(pending), _CHUNK):
                chunk = pending[start : start + _CHUNK]
                try:
                    taken = self._ops.cancel([f.request_id for f in chunk])
                except Exception as exc:
                    if not is_redis_error(exc):
                        raise
                    log_event(_WARNING, "redis_cancel_failed", error=repr(exc))
                    break
                self._cancelled_in_redis(
                    [f.request_id for f, was_taken in zip(chunk, taken, strict=True) if was_taken]
                )
        if not wait:
            return
        with self._lock:
            pending = list(self._pending.values())
        concurrent.futures.wait(pending)
        self._queue.close()

    def close(self) -> None:
        """The queue is closing: fail what is still pending (HttpError 2300042)."""
        with self._lock:
            self._closing = self._closed = True
            pending = list(self._pending.values())
            self._pending.clear()
            self._failed += len(pending)
        self._wake_listener()
        for future in pending:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(
                    HttpError.of(ABORTED, f"{self._queue!r} was closed before the outcome came")
                )
        thread = self._listener
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * _LISTEN + 1)

    def _wake_listener(self) -> None:
        if self._reply is None:
            return
        with contextlib.suppress(Exception):
            key = self._ops.key("reply:" + self._token)
            self._ops.client.rpush(key, _STOP)
            self._ops.client.expire(key, RESULT_TTL)
