"""Single-flight cache misses: one origin request per coalescing key at a time.

When identical cacheable GET requests miss the cache together, the first to
run on a worker (the *leader*) goes to the origin; the others (*waiters*)
wait for it on their own worker and then look in the cache again: the
leader's response, once stored, answers them (``from_cache=True``). When it
was not stored (``no-store``, a ``Vary`` that selects another variant, an
error ...) each waiter goes to the origin itself, as it would have without
coalescing; the key is then remembered as uncacheable for a while, so later
requests for it are not held back at all.

Safety, whatever the pool's limits: only a request already running on a
worker leads, so a waiter never waits for something that cannot start
(with ``max_workers=1`` nothing ever waits). A waiter waits at most its own
``connect_timeout + read_timeout`` and wakes at once when it is aborted
(the wait is registered with its abort signal); then it goes on alone.

The coalescing key is the cache key plus every request header: only
requests the same response would answer wait for each other. Requests the
cache could never answer (not GET, ``Range``, their own validators,
``no-store``, ``no-cache``, streams) never wait.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Final

from netstack.cache import CacheDriver, CacheLookup, may_coalesce
from netstack.transport import AbortSignal

#: Coalescing on (the default) or off for the whole process: ``benchmarks/bench_cache.py``
#: measures a burst both ways.
ENABLED = True
#: Seconds a key whose leader's response was not stored stays uncoalesced.
PASS_SECONDS: Final = 30.0
#: Uncacheable keys remembered at most (the oldest are forgotten first).
_PASS_LIMIT: Final = 4096


class _Waiter:
    """One waiting request; the abort signal "shuts it down" to wake it."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()

    def shutdown(self, how: int) -> None:  # the AbortSignal's socket protocol
        self.event.set()


class Flight:
    """The leader's request in progress; :meth:`land` wakes every waiter."""

    __slots__ = ("_flights", "_key", "_waiters")

    def __init__(self, flights: Flights, key: str) -> None:
        self._flights = flights
        self._key = key
        self._waiters: list[_Waiter] = []

    def land(self, stored: bool) -> None:
        """The leader is done (its response stored or not): release the waiters."""
        self._flights.land(self, stored)


class Flights:
    """The flights of one cache: which coalescing keys have a leader in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, Flight] = {}
        self._passes: dict[str, float] = {}  # key -> until when it is not coalesced
        self.led = 0  # counters, for tests and stats
        self.waited = 0

    def join(self, key: str) -> tuple[Flight | None, _Waiter | None]:
        """``(flight, None)``: lead it; ``(None, waiter)``: wait; ``(None, None)``: go alone."""
        with self._lock:
            until = self._passes.get(key)
            if until is not None:
                if time.monotonic() < until:
                    return None, None
                del self._passes[key]
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = Flight(self, key)
                self.led += 1
                return flight, None
            waiter = _Waiter()
            flight._waiters.append(waiter)
            self.waited += 1
            return None, waiter

    def land(self, flight: Flight, stored: bool) -> None:
        with self._lock:
            if self._flights.get(flight._key) is flight:
                del self._flights[flight._key]
            if not stored:
                if len(self._passes) >= _PASS_LIMIT:
                    self._passes.pop(next(iter(self._passes)))
                self._passes[flight._key] = time.monotonic() + PASS_SECONDS
            waiters, flight._waiters = flight._waiters, []
        for waiter in waiters:
            waiter.event.set()

    def in_flight(self) -> int:
        """Keys with a leader in progress now."""
        with self._lock:
            return len(self._flights)


_registry: weakref.WeakKeyDictionary[CacheDriver, Flights] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def flights_of(driver: CacheDriver) -> Flights:
    """The flights of the cache ``driver`` runs (made on first use)."""
    flights = _registry.get(driver)
    if flights is None:
        with _registry_lock:
            flights = _registry.setdefault(driver, Flights())
    return flights


def coalescing_key(lookup: CacheLookup, headers: Mapping[str, str]) -> str | None:
    """The key identical requests share, or ``None`` when this one must not wait."""
    if not ENABLED or not may_coalesce(lookup):
        return None
    fields = sorted((name.lower(), value) for name, value in headers.items())
    return f"{lookup.key}\n{fields!r}"


def wait_limit(connect_timeout: float | None, read_timeout: float | None) -> float | None:
    """How long a waiter may wait: its own connect plus read timeout (``None``: unbounded)."""
    if connect_timeout is None or read_timeout is None:
        return None
    return connect_timeout + read_timeout


def wait(waiter: _Waiter, signal: AbortSignal, limit: float | None) -> bool:
    """Wait for the leader; False when ``limit`` seconds passed or the request was aborted."""
    signal.attach(waiter)  # abort() "shuts down" the waiter: it wakes at once
    try:
        return waiter.event.wait(limit) and not signal.aborted
    finally:
        signal.attach(None)
