"""RemoteSink: a Scheduler's jobs go to a ``RedisQueue`` and run on ``netstack worker`` processes.

``Scheduler(queue=RedisQueue(...))`` calls :meth:`RedisQueue.attach`, which
returns this :class:`~netstack.scheduler.jobs.JobSink` over the queue's
producer: the Scheduler has no Redis branch and imports nothing of
``netstack.distributed``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netstack.dispatch.errors import SchedulerShutdownError
from netstack.errors import UNKNOWN

if TYPE_CHECKING:
    import threading

    from netstack.distributed.producer import Producer
    from netstack.scheduler.future import RequestFuture
    from netstack.scheduler.job import Job
    from netstack.scheduler.jobs import DoneCallback
    from netstack.scheduler.owner import SinkOwner
    from netstack.scheduler.stats import SchedulerStats

__all__ = ["RemoteSink"]


class RemoteSink:
    """The Redis :class:`~netstack.scheduler.jobs.JobSink` (a producer of a RedisQueue)."""

    def __init__(self, scheduler: SinkOwner, producer: Producer) -> None:
        self._name = scheduler.name
        #: True once shut down (an attribute: read on every submit).
        self.closed = False
        self._producer = producer

    @property
    def producer(self) -> Producer:
        """The RedisQueue's producer behind this sink."""
        return self._producer

    @property
    def threads(self) -> list[threading.Thread]:
        return []

    def shutdown_error(self) -> SchedulerShutdownError:
        return SchedulerShutdownError(
            UNKNOWN, None, f"scheduler {self._name!r} is shut down: it accepts no requests"
        )

    def submit(
        self, job: Job, add_callback: DoneCallback | None, timeout: float | None
    ) -> RequestFuture[Any]:
        if self.closed:
            raise self.shutdown_error()
        return self._producer.submit_job(job, add_callback)

    def submit_many(self, jobs: Sequence[Job]) -> list[RequestFuture[Any]]:
        if self.closed:
            raise self.shutdown_error()
        return self._producer.submit_jobs(jobs)

    def withdraw(self, future: RequestFuture[Any]) -> bool:
        return False  # a RemoteFuture cancels in Redis itself (its own cancel())

    def abort(
        self, future: RequestFuture[Any], error: BaseException | None, cancel_waiting: bool
    ) -> bool:
        done = future.done()
        self._producer.abort(future, error, cancel_waiting)
        return not done and future.done()

    def set_priority(self, future: RequestFuture[Any], priority: int) -> None:
        self._producer.set_priority(future, priority)

    def cancel_tag(self, tag: str) -> int:
        return self._producer.cancel_tag(tag)

    def set_priority_tag(self, tag: str, priority: int) -> int:
        return self._producer.set_priority_tag(tag, priority)

    def stats(self) -> SchedulerStats:
        return self._producer.stats()

    def describe(self) -> str:
        s = self._producer.stats()
        return f"[Requests: 0 running, {s.queued} queued | Hosts: 0 ready, 0 saturated]"

    def phase(self, future: RequestFuture[Any]) -> str:
        return "queued"

    def shutdown(
        self,
        wait: bool,
        cancel_pending: bool,
        persist: str | os.PathLike[str] | None,
        abort_running: bool = False,
    ) -> bool:
        self.closed = True
        if persist is not None:
            from netstack.scheduler.persist import write_queue

            write_queue(persist, [])  # the requests wait in Redis, not here
        self._producer.shutdown(wait, cancel_pending or abort_running or persist is not None)
        return wait

    def shutdown_at_exit(self, stop: bool) -> None:
        """The requests live in Redis and run on the workers whatever this process does,
        so their outcomes are not awaited (a dead worker or Redis would hang the exit):
        the futures still waiting end with 2300042. With ``stop`` (the program ends on
        an unhandled exception, Ctrl-C) its requests still waiting in Redis are taken
        out first, so no worker runs them for a producer that is gone."""
        self.closed = True
        self._producer.shutdown(False, stop)
        self._producer.close()
