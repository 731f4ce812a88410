"""RedisQueue: the shared priority queue of many producers and worker processes.

``Scheduler(queue=RedisQueue(url, name))`` turns a scheduler into a
*producer*: ``submit`` validates the request (HttpError 401 as usual, and
for an option that cannot travel as JSON, see ``wire.py``), answers a fresh
hit of its own response cache at once, and otherwise queues the request in
Redis. ``netstack worker --redis URL`` processes run the requests (see
``worker.py``). Guarantees, across every producer and worker:

- larger priority first, then submission order (the order Redis received
  them); ``set_priority`` and ``cancel`` act on requests still waiting;
- ``max_per_host`` leases per host at most (the workers' ``--per-host``);
- a request is taken by one worker at a time, and its outcome recorded
  once; a worker that dies loses its lease after ``--lease`` seconds and
  the request runs again elsewhere: delivery is *at least once* (a request
  may reach the server twice, never zero times while Redis keeps its data);
- the producer's future resolves with the worker's ``HttpResponse`` (code,
  headers, cookies, timings, body up to the request's ``max_limit``) or
  ``HttpError``. Per-request events (``events=``, ``HttpRequest.on``) fire on
  the worker, so a producer cannot listen to them: submitting with
  listeners is HttpError 401.

``want_results=False`` makes a fire-and-forget producer: workers drop the
outcomes and each future resolves to ``None`` as soon as its request is in
Redis (``future.request_id`` is then the id that :meth:`RedisQueue.cancel`
and :meth:`RedisQueue.set_priority` take).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from netstack.distributed.connect import connect_to, is_redis_error, redis_error
from netstack.distributed.ops import RESULT_TTL, QueueOps
from netstack.distributed.producer import Producer
from netstack.distributed.sink import RemoteSink
from netstack.errors import HttpError

if TYPE_CHECKING:
    import redis

    from netstack.breaker import CircuitBreaker
    from netstack.distributed.backend import RedisBackend
    from netstack.distributed.breakers import RedisBreakers
    from netstack.distributed.ops import Popped
    from netstack.scheduler import Scheduler

__all__ = ["RESULT_TTL", "RedisQueue", "RedisQueueStats"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class RedisQueueStats:
    """The shared queue as Redis sees it, all producers and workers together.

    ``waiting`` and ``leased`` are now; the others count since the queue was
    created: ``expired`` leases of dead (or stalled) workers, ``returned``
    requests a stopping worker gave back, ``duplicates`` outcomes dropped
    because the request had already ended.
    """

    waiting: int
    leased: int
    submitted: int
    completed: int
    failed: int
    cancelled: int
    expired: int
    returned: int
    duplicates: int


class RedisQueue:
    """A priority queue in Redis shared by producers and ``netstack worker`` processes.

    ``url`` is a ``redis://``, ``rediss://``, ``unix://`` or
    ``redis+sentinel://host:port[,host:port]/service[/db]`` URL, or a
    ``redis.Redis`` client (a managed service's, a Sentinel's
    ``master_for(...)``), used as is. Connects at once: HttpError 2300007
    naming ``url`` when Redis does not answer, 401 when the ``redis`` extra
    is missing. ``name`` separates
    queues on one server. ``max_per_host``, when given, sets the limit every
    worker enforces (workers' ``--per-host`` sets it too). One RedisQueue
    serves one Scheduler.
    """

    def __init__(
        self,
        url: str | redis.Redis,
        name: str = "netstack",
        *,
        want_results: bool = True,
        max_per_host: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in "{}"):
            raise HttpError.parameter(f"name: a non-empty str without braces, got {name!r}")
        if max_per_host is not None and (
            not isinstance(max_per_host, int) or isinstance(max_per_host, bool) or max_per_host < 1
        ):
            raise HttpError.parameter(f"max_per_host: must be an int >= 1, got {max_per_host!r}")
        client, self._url = connect_to(url)
        self._name = name
        self._want_results = bool(want_results)
        self._ops = QueueOps(client, name)
        self._producer: Producer | None = None
        self._lock = threading.Lock()
        if max_per_host is not None:
            self._call("configure", lambda: self._ops.configure(max_per_host))

    @property
    def url(self) -> str:
        """The Redis URL, its password masked (an address for a client passed in)."""
        return self._url

    @property
    def name(self) -> str:
        return self._name

    @property
    def want_results(self) -> bool:
        """False: fire-and-forget, futures resolve to None once queued."""
        return self._want_results

    def cancel(self, request_id: int) -> bool:
        """Take a waiting request out of the queue; False once a worker took it or it ended."""
        return self._call("cancel", lambda: self._ops.cancel([request_id]))[0]

    def set_priority(self, request_id: int, priority: int) -> bool:
        """Move a waiting request to ``priority`` (1..1000), keeping its submission order.

        False once a worker took it or it ended.
        """
        from netstack.validation import check_priority

        check_priority(priority)
        return self._call("set_priority", lambda: self._ops.set_priority(request_id, priority))

    def backend(
        self,
        encode: Callable[[T], str],
        decode: Callable[[Popped], T],
        *,
        lease: float = 30.0,
    ) -> RedisBackend[T]:
        """This queue as a dispatcher queue backend (``netstack.dispatch.backend``).

        ``encode`` turns an item into its JSON payload, ``decode`` a leased
        one back into an item; see ``netstack.distributed.backend``.
        """
        from netstack.distributed.backend import RedisBackend

        return RedisBackend(self._ops, encode, decode, lease=lease)

    def stats(self) -> RedisQueueStats:
        counts = self._call("stats", self._ops.counts)
        return RedisQueueStats(
            waiting=counts["waiting"],
            leased=counts["leased"],
            **{
                name: counts.get(name, 0)
                for name in (
                    "submitted",
                    "completed",
                    "failed",
                    "cancelled",
                    "expired",
                    "returned",
                    "duplicates",
                )
            },
        )

    def __len__(self) -> int:
        """Requests waiting (not leased by a worker)."""
        return self.stats().waiting

    def clear(self) -> None:
        """Delete this queue from Redis: every request, lease, outcome and counter."""
        self._call("clear", self._ops.clear)

    def close(self) -> None:
        """Close the connections; a Scheduler's requests still pending fail (2300042).

        ``Scheduler.shutdown(wait=True)`` closes its queue once every result came.
        """
        producer = self._producer
        if producer is not None:
            producer.close()
        self._ops.client.close()

    def __repr__(self) -> str:
        return f"<RedisQueue {self._name!r} at {self.url}>"

    # -- for the Scheduler -----------------------------------------------------

    def breaker_store(self, policy: CircuitBreaker) -> RedisBreakers:
        """The circuits of ``policy`` shared in this queue by every worker and producer."""
        from netstack.distributed.breakers import RedisBreakers

        return RedisBreakers(self._ops.client, self._ops.prefix, policy)

    def attach(self, scheduler: Scheduler) -> RemoteSink:
        """Where ``Scheduler(queue=self)`` hands its jobs; called once, by that Scheduler."""
        with self._lock:
            if self._producer is not None:
                raise HttpError.parameter("queue: this RedisQueue already serves a Scheduler")
            self._producer = Producer(self, self._ops, scheduler)
        return RemoteSink(scheduler, self._producer)

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        """Run a Redis operation; connection trouble becomes HttpError 2300007."""
        try:
            return operation()
        except Exception as exc:
            if is_redis_error(exc):
                raise redis_error(self._url, f"{what} failed", exc) from exc
            raise
