"""LeaseJob: one leased request as a dispatcher job, and the Runner that prepares it.

A worker's pool runs each lease's :class:`LeaseJob` on one of its threads.
``run`` decodes the payload and prepares the call there (on the first run:
``netstack.call.prepare_call``, the client's documented internal API:
options validated once, response cache consulted), then runs the exchange.
No second scheduler, no second future: the pool's ticket is the lease's.

A payload that cannot be decoded (not JSON, wrong types, a 400-digit
number, invalid UTF-8) makes ``run`` raise HttpError 401: that one request
fails, its producer learns why, the thread goes on.

The :class:`Runner` holds what every lease of the worker shares: one
transport (connection pools), the response cache, the host rules per set a
request carries (checked on the first host here, on every redirect hop by
the transport) and the circuit breaker per policy a request carries (its
circuits shared in Redis by every worker).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final, cast

from netstack.breaker import CircuitBreaker
from netstack.call import prepare_call
from netstack.deadline import ALARM
from netstack.distributed.breakers import RedisBreakers
from netstack.distributed.wire import decode_request
from netstack.errors import HOST_NOT_ALLOWED, TIMEOUT, HttpError
from netstack.hostguard import HostGuard
from netstack.hosts import HostRules

if TYPE_CHECKING:
    from netstack.cache import HttpResponseCache
    from netstack.call import Call
    from netstack.distributed.ops import Popped, QueueOps
    from netstack.options import OptionsInput
    from netstack.transport import Transport

__all__ = ["LeaseJob", "Runner", "unreadable"]

#: Distinct host-rule sets (and breaker policies) a worker serves at most.
RULE_SETS: Final = 16

Hosts = tuple[tuple[str, ...] | None, tuple[str, ...]]
"""``(allowed or None, blocked)`` host patterns, as requests carry them."""


class Runner:
    """What the leases of one worker run with (see the module docstring)."""

    def __init__(
        self,
        ops: QueueOps,
        *,
        name: str,
        hosts: Hosts | None,
        cache: HttpResponseCache | None,
        max_per_host: int,
    ) -> None:
        self._ops = ops
        self._name = name
        self._hosts = hosts
        self._cache = cache
        self._max_per_host = max_per_host
        self._lock = threading.Lock()
        self._transport: Transport | None = None
        self._rules: dict[Hosts, HostRules | None] = {}
        self._guards: dict[tuple[int, float], HostGuard] = {}

    @property
    def transport(self) -> Transport:
        """The connection pools every lease shares (made on first use)."""
        transport = self._transport
        if transport is None:
            with self._lock:
                transport = self._transport
                if transport is None:
                    from netstack.transport import Transport

                    transport = self._transport = Transport(max_per_host=self._max_per_host)
        return transport

    def prepare(self, popped: Popped) -> Call:
        """Decode and validate a lease's request: HttpError 401 if its payload is unusable.

        A call whose host its rules do not allow is settled with 2300998 (no connection).
        """
        try:
            request = decode_request(popped.payload, popped.priority)
        except Exception as exc:  # anything a hostile payload makes the decoder raise
            raise unreadable(exc) from None
        hosts = request.hosts if request.hosts is not None else self._hosts
        rules = None if hosts is None else self._rules_for(hosts)
        guard = None if request.breaker is None else self._guard_for(request.breaker)
        try:
            call = prepare_call(
                request.url,
                cast("OptionsInput", request.options),
                events=None,
                cache=self._cache,
                transport=self._transport or self.transport,
                host_allowed=None if rules is None else rules.allows,
                guard=guard,
            )
        except HttpError:
            raise  # a 401 naming the option
        except Exception as exc:  # what odd option values raise on the way
            raise unreadable(exc) from None
        if (
            rules is not None
            and call.host_key
            and not call.settled
            and not rules.allows(call.host_key)
        ):
            call.settle(
                error=HttpError.of(
                    HOST_NOT_ALLOWED, f"{call.host_key}: not allowed by worker {self._name!r}"
                )
            )
        return call

    def close(self) -> None:
        """Close the connection pools (nothing runs any more)."""
        if self._transport is not None:
            self._transport.close()

    def _rules_for(self, hosts: Hosts) -> HostRules | None:
        with self._lock:
            if hosts in self._rules:
                return self._rules[hosts]
            if len(self._rules) >= RULE_SETS:
                raise HttpError.parameter(
                    f"hosts: this worker already serves {RULE_SETS} different sets of host rules"
                )
            rules = self._rules[hosts] = HostRules.build(*hosts)
            return rules

    def _guard_for(self, breaker: tuple[int, float]) -> HostGuard:
        with self._lock:
            guard = self._guards.get(breaker)
            if guard is not None:
                return guard
            if len(self._guards) >= RULE_SETS:
                raise HttpError.parameter(
                    f"breaker: this worker already serves {RULE_SETS} different breakers"
                )
            policy = CircuitBreaker(*breaker)
            store = RedisBreakers(self._ops.client, self._ops.prefix, policy)
            guard = self._guards[breaker] = HostGuard(policy, None, self._max_per_host, store=store)
            return guard


class LeaseJob:
    """A leased request as the dispatcher runs it (``netstack.dispatch.job.Job``)."""

    __slots__ = (
        "__weakref__",
        "_aborted",
        "_error",
        "attempts",
        "call",
        "host_key",
        "method",
        "popped",
        "priority",
        "retry",
        "runner",
        "url",
    )

    def __init__(self, popped: Popped, runner: Runner) -> None:
        self.popped = popped
        self.runner = runner
        self.host_key = popped.host
        self.url = ""  # known once decoded (logs only)
        self.priority = popped.priority
        #: Runs so far, Redis' count included (a retry or an expired lease ran it before).
        self.attempts = popped.attempt - 1
        #: The request's retry policy once decoded (None: the worker's; 0: none).
        self.retry: Any = 0
        self.method = "GET"
        self.call: Call | None = None
        self._aborted = False
        #: What ``run`` raises instead of the abort's 2300042 (the total_timeout's 2300028).
        self._error: HttpError | None = None

    def run(self) -> object:
        """Prepare on the first run (401 for an unusable payload), then run the exchange."""
        call = self.call
        if call is None:
            self.attempts += 1  # counted if preparing fails
            call = self.call = self.runner.prepare(self.popped)
            self.attempts -= 1
            call.attempts = self.attempts
            self.url = call.url
            self.retry = call.retry
            self.method = call.method
            if self._aborted:
                call.abort()
            elif call.total_timeout and not call.settled:
                ALARM.at(time.monotonic() + call.total_timeout / 1000.0, self, _expire)
        if call.settled:
            self.attempts += 1
            if call.settled_error is not None:
                raise call.settled_error
            return call.settled_result
        try:
            return call.run()
        except HttpError as error:
            if self._error is not None:
                self._error.attempts = call.attempts
                raise self._error from error
            raise
        finally:
            self.attempts = call.attempts

    def abort(self) -> None:
        """From any thread: a running exchange ends promptly with 2300042."""
        self._aborted = True
        call = self.call
        if call is not None:
            call.abort()


def _expire(job: LeaseJob) -> None:
    """On the alarm thread: the request's total_timeout passed while it ran."""
    call = job.call
    if call is None or job._aborted:
        return
    job._error = HttpError.of(TIMEOUT, f"total_timeout of {call.total_timeout} ms passed")
    job.abort()


def unreadable(exc: BaseException) -> HttpError:
    """The 401 of a payload that cannot be decoded or used."""
    return HttpError.parameter(
        f"the request's payload in Redis is unreadable ({type(exc).__name__}: "
        f"{str(exc)[:120]}); it was written by something other than netstack, or damaged"
    )
