"""Beyond one machine: a Redis-backed queue and cache storage.

``Scheduler(queue=RedisQueue(url, name))`` makes a producer whose requests
run on ``netstack worker --redis URL`` processes, on any number of
machines; ``RedisStorage(url)`` is a ``CacheStorage`` they share. Modules:
``wire`` (requests and outcomes as JSON), ``ops`` (the Lua scripts and the
data model), ``redis_queue`` (RedisQueue), ``producer`` (the Scheduler
side), ``worker`` (the worker process), ``redis_storage`` (the storage
of a response cache the workers share: ``HttpResponseCache(storage=...,
write_through=True)``), ``connect`` (the optional
``redis`` client: the extra ``netstack[redis]``).

Delivery is at least once: a worker that dies mid-request loses its lease
and the request runs again elsewhere; its outcome is recorded once.
"""

from __future__ import annotations

from netstack.distributed.redis_queue import RedisQueue, RedisQueueStats
from netstack.distributed.redis_storage import RedisStorage
from netstack.distributed.worker import Worker

__all__ = ["RedisQueue", "RedisQueueStats", "RedisStorage", "Worker"]
