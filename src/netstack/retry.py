"""RetryPolicy: when a finished attempt runs again, and after how long. Pure.

Given as ``Scheduler(retry=RetryPolicy(...))`` for every request, or per
request with the option ``retry`` (a RetryPolicy, or ``0`` for none).

An attempt is retried when all of these hold:

- fewer than ``attempts`` attempts ran (``attempts`` counts the first one);
- the method is in ``methods`` (by default the idempotent ones: GET, HEAD,
  OPTIONS, PUT, DELETE, TRACE; add POST to ask for it);
- it answered with a status in ``statuses`` (429, 502, 503, 504), or failed
  with an ``HttpError`` code in ``errors`` (2300007 connect failed, 2300028
  timeout). Other exceptions, and ``destroy()``, never retry.

The wait before attempt ``n + 1`` (``n >= 1``) is the response's
``Retry-After`` (delta-seconds or an HTTP date, RFC 9110 §10.2.3) when it has
one; a Retry-After beyond ``max_retry_after`` ends the retries instead (the
server asked for longer than the caller will wait). Otherwise it is
exponential backoff with jitter::

    delay = min(max_backoff, backoff * 2 ** (n - 1)) * (1 - jitter * U[0, 1))

While it waits, the request holds no worker: it waits in the queue backend
(the dispatcher's timers in process, a sorted set of due times in Redis) and
re-enters the queue at its priority when due. The future ends
with the last attempt's response or error; ``HttpResponse.attempts`` and the
``retry_scheduled`` / ``finished`` / ``failed`` log events count attempts.
``request_in_stream`` is never retried (its body already went to listeners);
the listeners of ``request`` see the events of every attempt.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Final, TypeVar

from netstack.errors import CONNECT_FAILED, TIMEOUT, HttpError
from netstack.limits import MAX_SECONDS

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy", "parse_retry_after"]

K = TypeVar("K", int, str)


class _Set(frozenset[K]):
    """A frozenset whose repr is sorted, so a policy's repr is the same in every process."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"frozenset({{{', '.join(map(repr, sorted(self)))}}})"


IDEMPOTENT_METHODS: Final = _Set({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES: Final = _Set({429, 502, 503, 504})
RETRY_ERRORS: Final = _Set({CONNECT_FAILED, TIMEOUT})


def _fail(field_name: str, what: str, value: object) -> HttpError:
    return HttpError.parameter(f"retry.{field_name}: {what}, got {value!r}")


def _number(field_name: str, value: object, low: float, high: float = MAX_SECONDS) -> float:
    """A number in [low, high]: an int compares before any float conversion (no overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(field_name, "must be a number", value)
    if not low <= value <= high:  # False for NaN too
        raise _fail(field_name, f"must be a number in [{low}, {high}]", value)
    return float(value)


def _codes(field_name: str, value: object) -> frozenset[int]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise _fail(field_name, "must be a set of ints", value)
    codes = _Set(value)
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        raise _fail(field_name, "must be a set of ints", value)
    return codes


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How failed attempts of a request are retried (see the module docstring)."""

    #: Attempts in all, the first one included; 1 never retries.
    attempts: int = 3
    #: Seconds before the first retry; doubles with each further one.
    backoff: float = 0.5
    #: Upper bound of one backoff, seconds (Retry-After is bounded by ``max_retry_after``).
    max_backoff: float = 30.0
    #: Fraction of each backoff taken off at random, in [0, 1]; 0 means none.
    jitter: float = 0.5
    #: Response statuses that are retried.
    statuses: frozenset[int] = field(default=RETRY_STATUSES)
    #: HttpError codes that are retried.
    errors: frozenset[int] = field(default=RETRY_ERRORS)
    #: Methods that may be retried; add "POST" (or "PATCH"-like ones) only when safe.
    methods: frozenset[str] = field(default=IDEMPOTENT_METHODS)
    #: Longest Retry-After honoured, seconds; a longer one ends the retries.
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        attempts = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise _fail("attempts", "must be an int >= 1", attempts)
        _number("backoff", self.backoff, 0.0)
        _number("max_backoff", self.max_backoff, 0.0)
        _number("jitter", self.jitter, 0.0, 1.0)
        _number("max_retry_after", self.max_retry_after, 0.0)
        object.__setattr__(self, "statuses", _codes("statuses", self.statuses))
        object.__setattr__(self, "errors", _codes("errors", self.errors))
        methods = self.methods
        if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
            raise _fail("methods", "must be a set of method names", methods)
        object.__setattr__(self, "methods", _Set(str(m).upper() for m in methods))

    def backoff_delay(self, attempt: int, rand: float) -> float:
        """Seconds to wait after attempt ``attempt`` (1-based), ``rand`` uniform in [0, 1)."""
        base = min(self.max_backoff, self.backoff * 2.0 ** min(attempt - 1, 1023))
        return base * (1.0 - self.jitter * rand)

    def next_delay(
        self,
        attempt: int,
        method: str,
        result: object,
        error: BaseException | None,
        *,
        wall_now: float,
        rand: float,
    ) -> tuple[float, str] | None:
        """``(seconds, reason)`` before the next attempt, or None when this one is final.

        ``result`` is an attempt's result (an ``HttpResponse``), ``error`` its
        exception; ``wall_now`` is ``time.time()`` (for Retry-After dates).
        """
        if attempt >= self.attempts or method not in self.methods:
            return None
        retry_after: str | None = None
        if error is not None:
            code = getattr(error, "code", None) if isinstance(error, HttpError) else None
            if code not in self.errors:
                return None
            reason = f"error {code}"
        else:
            status = getattr(result, "response_code", None)
            if status not in self.statuses:
                return None
            reason = f"status {status}"
            header = getattr(result, "header", None)
            if header is not None:
                retry_after = header.get("retry-after")
        if retry_after is not None:
            wait = parse_retry_after(retry_after, wall_now)
            if wait is not None:
                if wait > self.max_retry_after:
                    return None
                return wait, f"{reason}, Retry-After"
        return self.backoff_delay(attempt, rand), reason


def parse_retry_after(value: str, wall_now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or HTTP date); None if invalid.

    A date in the past gives 0.
    """
    text = value.strip()
    if text.isdigit():
        # past 2**31 s is "longer than anyone waits"; also keeps int() and float() from overflowing
        return float(int(text)) if len(text) <= 10 else math.inf
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zone-less one is not an HTTP date
    now = time.time() if wall_now is None else wall_now
    return max(0.0, when.timestamp() - now)
