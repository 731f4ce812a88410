"""RedisBreakers: the circuit of each host, shared by every worker of a queue.

The same rules as :class:`netstack.breaker.HostBreakers` (see ``breaker.py``),
kept in one Redis hash per queue (``<prefix>breaker``, fields ``f:``, ``c:``,
``o:``, ``t:`` + host: failures in a row, last failure's code, when it opened,
when its trial started), changed by one Lua call per admit and per record, so
workers in several processes open, half-open and close one circuit together.
The clock is Redis's ``TIME``: workers' clocks need not agree. A trial whose
worker died is given up after ``reset_after`` (at least 30 s): then another
request becomes the trial.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

from netstack.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerState,
    CircuitBreaker,
    Verdict,
    open_error,
)

if TYPE_CHECKING:
    import redis

    from netstack.errors import HttpError

__all__ = ["RedisBreakers"]

#: Seconds after which a trial nobody reported is given up (its worker died).
_TRIAL_GIVEN_UP: Final = 30.0

_ADMIT: Final = """
local key, host = KEYS[1], ARGV[1]
local reset, given_up = tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local opened = redis.call('HGET', key, 'o:' .. host)
if not opened then return {0, 0, 0, 0} end
opened = tonumber(opened)
local failures = tonumber(redis.call('HGET', key, 'f:' .. host) or '0')
local code = tonumber(redis.call('HGET', key, 'c:' .. host) or '0')
local trial = tonumber(redis.call('HGET', key, 't:' .. host) or '0')
if (trial > 0 and now - trial < given_up) or now - opened < reset then
  return {2, failures, code, reset - (now - opened)}
end
redis.call('HSET', key, 't:' .. host, now)
return {1, failures, code, 0}
"""

_RECORD: Final = """
local key, host = KEYS[1], ARGV[1]
local outcome, trial, threshold = tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HEXISTS', key, 'o:' .. host) == 1 then
  if not trial then return 0 end
  redis.call('HDEL', key, 't:' .. host)
  if outcome == 0 then
    redis.call('HDEL', key, 'f:' .. host, 'c:' .. host, 'o:' .. host)
  elseif outcome ~= -1 then
    redis.call('HINCRBY', key, 'f:' .. host, 1)
    redis.call('HSET', key, 'c:' .. host, outcome, 'o:' .. host, now)
  end
  return 0
end
if outcome == -1 then return 0 end
if outcome == 0 then
  redis.call('HDEL', key, 'f:' .. host, 'c:' .. host)
  return 0
end
local failures = redis.call('HINCRBY', key, 'f:' .. host, 1)
redis.call('HSET', key, 'c:' .. host, outcome)
if failures >= threshold then redis.call('HSET', key, 'o:' .. host, now) end
return failures
"""


class RedisBreakers:
    """:class:`~netstack.breaker.HostBreakers`' interface over a hash in Redis (``now`` unused)."""

    __slots__ = ("_admit", "_client", "_key", "_last", "_record", "policy")

    def __init__(self, client: redis.Redis, prefix: str, policy: CircuitBreaker) -> None:
        self.policy = policy
        self._client = client
        self._key = prefix + "breaker"
        self._admit = client.register_script(_ADMIT)
        self._record = client.register_script(_RECORD)
        #: This thread's last refusal (failures, code, seconds to the trial), for :meth:`error`.
        self._last = threading.local()

    def admit(self, host: str, now: float) -> Verdict:
        """A request of ``host`` is about to start: may it? (REJECT: see :meth:`error`)."""
        reset_ms = int(self.policy.reset_after * 1000)
        given_up = max(reset_ms, int(_TRIAL_GIVEN_UP * 1000))
        verdict, failures, code, wait_ms = self._admit(
            keys=[self._key], args=[host, reset_ms, given_up]
        )
        self._last.refusal = (int(failures), int(code), float(wait_ms) / 1000.0)
        return Verdict(int(verdict))

    def record(self, host: str, outcome: int, now: float, *, trial: bool = False) -> None:
        """An admitted request of ``host`` ended with ``outcome`` (``CircuitBreaker.classify``)."""
        self._record(
            keys=[self._key], args=[host, outcome, 1 if trial else 0, self.policy.failures]
        )

    def error(self, host: str, now: float) -> HttpError:
        """The error of the request :meth:`admit` just refused on this thread."""
        failures, code, wait = getattr(self._last, "refusal", (0, 0, 0.0))
        return open_error(host, failures, code, wait)

    def snapshot(self, now: float) -> dict[str, BreakerState]:
        """Every host with failures counted, open or half-open, as Redis has it now."""
        fields: dict[Any, Any] = self._client.hgetall(self._key)
        seconds, micros = self._client.time()
        clock = seconds * 1000 + micros // 1000
        hosts: dict[str, dict[str, int]] = {}
        for raw, value in fields.items():
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            kind, _, host = name.partition(":")
            hosts.setdefault(host, {})[kind] = int(value)
        out = {}
        reset_ms = self.policy.reset_after * 1000
        for host, values in hosts.items():
            opened = values.get("o")
            if opened is None:
                state = CLOSED
            elif values.get("t") or clock - opened >= reset_ms:
                state = HALF_OPEN
            else:
                state = OPEN
            if opened is not None or values.get("f"):
                out[host] = BreakerState(state, values.get("f", 0), values.get("c", 0))
        return out
