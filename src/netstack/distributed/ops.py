"""QueueOps: every operation on the shared queue, each one atomic Lua script.

The data model mirrors the in-memory ``HostQueue`` (DESIGN §2), in Redis.
All keys of queue NAME start with ``netstack:{NAME}:`` (one hash slot, so
the scripts also run on a Redis Cluster):

==================  ======  =====================================================
``seq``             string  INCR: request ids, which are also the FIFO sequence
``job``             hash    id -> JSON payload (see ``wire.py``); present until
                            the request ends: its presence is "not yet ended"
``host``, ``score``  hash    id -> host key; id -> packed rank (below)
``tries``           hash    id -> times a worker took it
``q:<host>``        zset    waiting ids of one host, by packed rank
``ready``           zset    hosts with waiting ids and a free slot, by their best rank
``inflight``        hash    host -> leases held (the cross-worker ``max_per_host``)
``leases``          zset    leased ids, by expiry (ms, Redis' clock)
``owner``           hash    leased id -> worker token
``wake``            list    tokens that wake idle workers (BLPOP), at most 64
``reply:<token>``   list    outcomes for one producer (BLPOP), expiring
``stats``           hash    counters: submitted completed failed cancelled
                            expired returned duplicates
``config``          hash    ``max_per_host`` (set by workers; default 8)
==================  ======  =====================================================

The packed rank is ``(1000 - priority) * 2**43 + seq``: larger priority
first, then submission order across every producer; it is an exact integer
in a double (below 2**53), so a sorted set orders it exactly. Popping takes
the best host of ``ready`` and the best id of that host, and leases it; a
host leaves ``ready`` when it reaches ``max_per_host`` leases and comes back
when one is released, so every operation is O(log n) whatever the number of
saturated hosts. Each pop first returns up to 64 expired leases to their
place in the queue (at-least-once: their worker is presumed dead).
Finishing is the one place an outcome is recorded: it checks that the
request has not ended, removes it everywhere and pushes the outcome, all in
one script, so a request is recorded once even when two workers ran it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import redis

__all__ = ["DEFAULT_MAX_PER_HOST", "Popped", "QueueOps", "priority_of", "queue_prefix"]

DEFAULT_MAX_PER_HOST: Final = 8
_SHIFT: Final = 2**43
#: Wake tokens kept at most; more would only cause empty pops.
_WAKE_CAP: Final = 64

_COMMON = """
local P = ARGV[1]
local SHIFT = 8796093022208
local function maxper()
  return tonumber(redis.call('HGET', P..'config', 'max_per_host') or '$DEFAULT')
end
local function refresh(host, max)
  local top = redis.call('ZRANGE', P..'q:'..host, 0, 0, 'WITHSCORES')
  if top[1] and tonumber(redis.call('HGET', P..'inflight', host) or '0') < max then
    redis.call('ZADD', P..'ready', top[2], host)
    return 1
  end
  redis.call('ZREM', P..'ready', host)
  return 0
end
local function wake(n)
  local room = $WAKE - redis.call('LLEN', P..'wake')
  for i = 1, math.min(n, room) do redis.call('RPUSH', P..'wake', '1') end
end
local function unlease(id)
  if redis.call('ZREM', P..'leases', id) == 0 then return false end
  redis.call('HDEL', P..'owner', id)
  local host = redis.call('HGET', P..'host', id)
  if host and redis.call('HINCRBY', P..'inflight', host, -1) <= 0 then
    redis.call('HDEL', P..'inflight', host)
  end
  return host
end
local function requeue(id, max)
  local host = unlease(id)
  if not host then return 0 end
  local score = redis.call('HGET', P..'score', id)
  if score and redis.call('HEXISTS', P..'job', id) == 1 then
    redis.call('ZADD', P..'q:'..host, score, id)
  end
  return refresh(host, max)
end
local function forget(id)
  redis.call('HDEL', P..'job', id)
  redis.call('HDEL', P..'host', id)
  redis.call('HDEL', P..'score', id)
  redis.call('HDEL', P..'tries', id)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
""".replace("$DEFAULT", str(DEFAULT_MAX_PER_HOST)).replace("$WAKE", str(_WAKE_CAP))

# ARGV: P, then (host, priority, payload) triples. Returns the new ids.
_PUSH = """
local max = maxper()
local ids = {}
for i = 2, #ARGV, 3 do
  local host = ARGV[i]
  local id = redis.call('INCR', P..'seq')
  local s = string.format('%.0f', (1000 - tonumber(ARGV[i + 1])) * SHIFT + id)
  redis.call('HSET', P..'job', id, ARGV[i + 2])
  redis.call('HSET', P..'host', id, host)
  redis.call('HSET', P..'score', id, s)
  redis.call('ZADD', P..'q:'..host, s, id)
  refresh(host, max)
  ids[#ids + 1] = id
end
redis.call('HINCRBY', P..'stats', 'submitted', #ids)
wake(#ids)
return ids
"""

# ARGV: P, worker token, lease ms, count. Returns up to count {id, payload, score, tries}.
_POP = """
local max = maxper()
local now = now_ms()
local woke = 0
local expired = redis.call('ZRANGEBYSCORE', P..'leases', '-inf', now, 'LIMIT', 0, 64)
for _, id in ipairs(expired) do
  woke = woke + requeue(id, max)
  redis.call('HINCRBY', P..'stats', 'expired', 1)
end
local out = {}
local want = tonumber(ARGV[4])
for guard = 1, 1000 do
  if #out >= want then break end
  local host = redis.call('ZRANGE', P..'ready', 0, 0)[1]
  if not host then break end
  local top = false
  if tonumber(redis.call('HGET', P..'inflight', host) or '0') < max then
    top = redis.call('ZPOPMIN', P..'q:'..host)
  end
  if top and top[1] then
    local id = top[1]
    redis.call('HINCRBY', P..'inflight', host, 1)
    redis.call('ZADD', P..'leases', now + tonumber(ARGV[3]), id)
    redis.call('HSET', P..'owner', id, ARGV[2])
    local tries = redis.call('HINCRBY', P..'tries', id, 1)
    refresh(host, max)
    out[#out + 1] = {id, redis.call('HGET', P..'job', id), top[2], tries}
  else
    redis.call('ZREM', P..'ready', host)
  end
end
wake(woke - #out)
return out
"""

# ARGV: P, id, counter (completed|failed), reply token or '', outcome, ttl s.
_FINISH = """
local id = ARGV[2]
if redis.call('HEXISTS', P..'job', id) == 0 then
  redis.call('HINCRBY', P..'stats', 'duplicates', 1)
  return 0
end
local host = unlease(id)
if not host then
  host = redis.call('HGET', P..'host', id)
  if host then redis.call('ZREM', P..'q:'..host, id) end
end
forget(id)
redis.call('HINCRBY', P..'stats', ARGV[3], 1)
if ARGV[4] ~= '' then
  redis.call('RPUSH', P..'reply:'..ARGV[4], ARGV[5])
  redis.call('EXPIRE', P..'reply:'..ARGV[4], ARGV[6])
end
if host and refresh(host, maxper()) == 1 then wake(1) end
return 1
"""

# ARGV: P, worker token, lease ms, ids. Returns the ids this worker no longer holds.
_RENEW = """
local until_ms = now_ms() + tonumber(ARGV[3])
local lost = {}
for i = 4, #ARGV do
  if redis.call('HGET', P..'owner', ARGV[i]) == ARGV[2] then
    redis.call('ZADD', P..'leases', 'XX', until_ms, ARGV[i])
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
"""

# ARGV: P, worker token, ids. Returns how many went back to the queue.
_GIVE_BACK = """
local max = maxper()
local n, woke = 0, 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', P..'owner', id) == ARGV[2] then
    woke = woke + requeue(id, max)
    redis.call('HINCRBY', P..'tries', id, -1)
    n = n + 1
  end
end
if n > 0 then redis.call('HINCRBY', P..'stats', 'returned', n) end
wake(woke)
return n
"""

# ARGV: P, ids. Returns 1 per id taken out of the queue, 0 if not waiting.
_CANCEL = """
local max = maxper()
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local host = redis.call('HGET', P..'host', id)
  if host and redis.call('ZREM', P..'q:'..host, id) == 1 then
    forget(id)
    refresh(host, max)
    redis.call('HINCRBY', P..'stats', 'cancelled', 1)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""

# ARGV: P, id, priority. Returns 1 if the request was waiting (and moved).
_SET_PRIORITY = """
local id = ARGV[2]
local host = redis.call('HGET', P..'host', id)
if not host then return 0 end
local old = redis.call('ZSCORE', P..'q:'..host, id)
if not old then return 0 end
local s = string.format('%.0f', (1000 - tonumber(ARGV[3])) * SHIFT + tonumber(old) % SHIFT)
redis.call('ZADD', P..'q:'..host, s, id)
redis.call('HSET', P..'score', id, s)
refresh(host, maxper())
return 1
"""

# ARGV: P, max_per_host. Re-evaluates every active host when the limit changes.
_CONFIGURE = """
local old = redis.call('HGET', P..'config', 'max_per_host')
redis.call('HSET', P..'config', 'max_per_host', ARGV[2])
if old == ARGV[2] then return 0 end
local max = tonumber(ARGV[2])
local hosts = {}
for _, h in ipairs(redis.call('ZRANGE', P..'ready', 0, -1)) do hosts[h] = true end
for _, h in ipairs(redis.call('HKEYS', P..'inflight')) do hosts[h] = true end
local n = 0
for h, _ in pairs(hosts) do n = n + refresh(h, max) end
wake(n)
return 1
"""


def queue_prefix(name: str) -> str:
    """The key prefix of queue ``name`` (a hash tag: one Cluster slot)."""
    return f"netstack:{{{name}}}:"


def priority_of(score: float) -> int:
    """The priority packed in a rank."""
    return 1000 - int(score) // _SHIFT


@dataclass(frozen=True, slots=True)
class Popped:
    """A request a worker leased."""

    request_id: int
    payload: bytes
    priority: int
    #: 1 the first time a worker takes it; more after a lease expired.
    attempt: int


class QueueOps:
    """The shared queue's operations on one client; every method is one round trip."""

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.name = name
        self.prefix = queue_prefix(name)
        register = client.register_script
        self._push = register(_COMMON + _PUSH)
        self._pop = register(_COMMON + _POP)
        self._finish = register(_COMMON + _FINISH)
        self._renew = register(_COMMON + _RENEW)
        self._give_back = register(_COMMON + _GIVE_BACK)
        self._cancel = register(_COMMON + _CANCEL)
        self._set_priority = register(_COMMON + _SET_PRIORITY)
        self._configure = register(_COMMON + _CONFIGURE)

    def key(self, suffix: str) -> str:
        return self.prefix + suffix

    def push(self, items: Sequence[tuple[str, int, str]]) -> list[int]:
        """Queue ``(host, priority, payload)`` items in this order; their ids."""
        args: list[str | int] = [self.prefix]
        for host, priority, payload in items:
            args += (host, priority, payload)
        return [int(i) for i in self._push(args=args)]

    def pop(self, worker: str, lease_ms: int) -> Popped | None:
        """Lease the best request whose host has a free slot; None if there is none."""
        found = self.pop_many(worker, lease_ms, 1)
        return found[0] if found else None

    def pop_many(self, worker: str, lease_ms: int, count: int) -> list[Popped]:
        """Lease up to ``count`` requests, best first, as ``count`` pops would."""
        found = self._pop(args=[self.prefix, worker, lease_ms, count])
        return [
            Popped(int(request_id), payload, priority_of(float(score)), int(tries))
            for request_id, payload, score, tries in found
        ]

    def finish(
        self, request_id: int, counter: str, reply: str | None, outcome: str, ttl: int
    ) -> bool:
        """Record the outcome; False if the request had already ended (a duplicate run)."""
        args: list[str | int] = [self.prefix, request_id, counter, reply or "", outcome, ttl]
        return bool(self._finish(args=args))

    def renew(self, worker: str, ids: Iterable[int], lease_ms: int) -> list[int]:
        """Extend this worker's leases; returns the ids it no longer holds."""
        ids = list(ids)
        if not ids:
            return []
        return [int(i) for i in self._renew(args=[self.prefix, worker, lease_ms, *ids])]

    def give_back(self, worker: str, ids: Iterable[int]) -> int:
        """Return leased requests to their place in the queue (not counted as attempts)."""
        ids = list(ids)
        if not ids:
            return 0
        return int(self._give_back(args=[self.prefix, worker, *ids]))

    def cancel(self, ids: Sequence[int]) -> list[bool]:
        """Take waiting requests out; False for each one running or ended."""
        if not ids:
            return []
        return [bool(x) for x in self._cancel(args=[self.prefix, *ids])]

    def set_priority(self, request_id: int, priority: int) -> bool:
        """Move a waiting request to ``priority``, keeping its sequence; False if not waiting."""
        return bool(self._set_priority(args=[self.prefix, request_id, priority]))

    def configure(self, max_per_host: int) -> None:
        self._configure(args=[self.prefix, max_per_host])

    def max_per_host(self) -> int:
        value = self.client.hget(self.key("config"), "max_per_host")
        return DEFAULT_MAX_PER_HOST if value is None else int(value)

    def wait(self, timeout: float) -> None:
        """Block until a wake token arrives (work may be ready) or ``timeout`` passes."""
        self.client.blpop([self.key("wake")], timeout=timeout)

    def results(self, reply: str, timeout: float, batch: int = 256) -> list[bytes]:
        """Outcomes for producer ``reply``: waits up to ``timeout`` for the first."""
        key = self.key("reply:" + reply)
        first = self.client.blpop([key], timeout=timeout)
        if first is None:
            return []
        rest = self.client.lpop(key, batch - 1) or []
        return [first[1], *rest]

    def counts(self) -> dict[str, int]:
        """The ``stats`` counters plus ``waiting`` and ``leased`` now."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.key("stats"))
        pipe.hlen(self.key("job"))
        pipe.zcard(self.key("leases"))
        raw, jobs, leased = pipe.execute()
        counts = {k.decode(): int(v) for k, v in raw.items()}
        counts["leased"] = int(leased)
        counts["waiting"] = int(jobs) - int(leased)
        return counts

    def clear(self) -> int:
        """Delete every key of this queue (requests, leases, counters); returns how many."""
        pattern = _glob_escape(self.prefix) + "*"
        removed = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 500:
                removed += int(self.client.unlink(*batch))
                batch = []
        if batch:
            removed += int(self.client.unlink(*batch))
        return removed


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
