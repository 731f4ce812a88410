"""QueueBackend: the one interface between the dispatcher and where jobs wait.

The dispatcher (``state.py``) decides when jobs run and what becomes of
their outcomes; a *queue backend* holds the jobs while they wait and applies
the waiting-room policies: order, per-host slots, politeness holds, delayed
retries and aging. Two implementations: :class:`~netstack.dispatch.local.LocalQueue`
(in process, pure: no threads, no clock) and ``RedisQueue`` (shared by many
processes; each operation one Lua script, so it is atomic there too). Every
policy the dispatcher runs on top therefore behaves the same on either.

The contract, for every implementation:

- **Time is passed in** (``now``, monotonic seconds of the caller). A Redis
  backend that needs one clock for all processes may use the server's
  ``TIME`` instead and say so; due times it returns are then in the
  caller's clock again (``next_wake``).
- **Order**: :meth:`take` returns waiting items by ``(rank, seq)``, smallest
  first, where ``rank = base - priority`` (``base`` is 0, or the aging base of
  the time the item entered, see ``aging.py``) and ``seq`` the order in which
  the backend received them, kept for life (also across ``set_priority``).
- **Per-host slots**: at most ``limit(host)`` items of one host are *taken*
  and not yet :meth:`done`. A saturated host never blocks other hosts.
  ``set_limit`` may change a host's limit at any time (adaptive concurrency).
- **Politeness**: with a pacer, taking an item of host ``h`` at ``now`` holds
  ``h`` until the pacer says its next start is due; a held host is not
  taken from (others are). A Redis backend keeps the pacing state in Redis,
  so every process shares it.
- **Delayed retries**: :meth:`retry_at` parks a taken item until ``due``;
  it holds no slot while it waits (call :meth:`done` first, as for every
  taken item), and re-enters the order at its priority when due (with a
  fresh aging base). In Redis: a sorted set of due times, moved by ``take``.
- **Take** is batched (``limit`` items at most, 0 allowed: then it only
  moves what is due) so that a Redis worker fetches many jobs per round trip
  under leases; a leased item not ``done`` in time returns to the queue
  (at-least-once), which the in-process backend never needs.
- **Withdrawing**: :meth:`remove`, :meth:`set_priority` and the by-tag
  operations act on items that wait (queued or delayed) and report False /
  leave alone the others; they never touch a taken item.
- **drain** takes every waiting item out at once (shutdown): no per-item
  allocation beyond the returned list.
- **Items** are opaque to the backend except for what the dispatcher tells
  it at :meth:`push` (host key, priority, tag); an in-process backend keeps
  the item objects, a Redis backend keeps their encoded form and returns
  decoded ones from ``take``.

Leased backends (:class:`LeasedBackend`): a process that only *runs* the
jobs of a shared queue (``netstack worker``) gives its dispatcher a backend
whose items are that process's **leases**. What differs:

- ``take`` hands out leases fetched beforehand by the owner's own thread
  (one round trip for many), never doing I/O under the dispatcher's lock;
  after fetching, the owner asks the dispatcher to look again (the pool's
  ``tick``). Order, per-host slots, politeness and aging were applied by
  the shared queue when it leased them.
- ``done`` frees nothing locally: a lease holds its host slot in the shared
  queue until its end is recorded there.
- :meth:`LeasedBackend.finish` records a lease's final outcome (what its
  producer reads); ``retry_at`` records "run again at ``due``": the wait
  happens in the shared queue, holding no thread, and the next run arrives
  from ``take`` as a *new* item. So the dispatcher forgets an item it
  parked with ``retry_at`` (``leases`` is True) instead of keeping it
  between runs.
- A lease not finished within the lease time returns to the shared queue
  (at-least-once); the owner renews its leases meanwhile and, when it
  stops, gives back what still runs (:meth:`LeasedBackend.give_back`), so
  every lease ends recorded or back in the queue.
- ``push``, ``remove`` of a started item, ``set_priority`` and the by-tag
  operations are the producers' business: a leased backend refuses or
  reports nothing for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = ["BackendStats", "LeasedBackend", "QueueBackend"]

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class BackendStats:
    """What waits now: ``queued`` in the order, ``delayed`` until a retry is due,
    ``taken`` holding a host slot; host counts for ``repr`` and logs."""

    queued: int
    delayed: int
    taken: int
    ready_hosts: int
    saturated_hosts: int
    held_hosts: int


class QueueBackend(Protocol[T]):
    """Where jobs wait; see the module docstring for the contract every backend keeps."""

    # -- entering -------------------------------------------------------------

    def push(self, item: T, host: str, priority: int, tag: str | None, now: float) -> None:
        """Queue ``item`` for ``host`` at ``priority`` (1..1000, larger first)."""

    def push_many(self, items: Sequence[tuple[T, str, int, str | None]], now: float) -> None:
        """Queue several items at once, in this order: all of them, or (on error) none."""

    # -- running --------------------------------------------------------------

    def take(self, now: float, limit: int) -> list[T]:
        """Up to ``limit`` runnable items, best first, each holding a slot of its host.

        First moves what is due at ``now`` (delayed retries, released holds).
        """

    def done(self, item: T) -> None:
        """A taken item stopped running: free its host slot (call once per take)."""

    def retry_at(self, item: T, due: float) -> None:
        """Park an item that ran (and is ``done``) until ``due``; then it waits in order again."""

    @property
    def next_wake(self) -> float | None:
        """When something delayed or held becomes due (None: nothing is)."""

    @property
    def delayed(self) -> int:
        """Items parked by :meth:`retry_at` and not yet due (or not yet moved)."""

    @property
    def empty(self) -> bool:
        """Nothing waits, queued or delayed (taken items do not count)."""

    # -- changing what waits ----------------------------------------------------

    def remove(self, item: T) -> bool:
        """Take a waiting (queued or delayed) item out; False if it does not wait."""

    def set_priority(self, item: T, priority: int) -> bool:
        """Re-rank a waiting item, keeping its ``seq``; False if it does not wait."""

    def cancel_tag(self, tag: str) -> list[T]:
        """Remove and return every waiting item of ``tag``."""

    def set_priority_tag(self, tag: str, priority: int) -> list[T]:
        """Re-rank every waiting item of ``tag``; returns them."""

    def set_limit(self, host: str, limit: int | None) -> None:
        """Change ``host``'s slot count now (None: back to the default)."""

    def drain(self) -> list[T]:
        """Remove every waiting item (queued, then delayed), in dispatch order."""

    # -- state ------------------------------------------------------------------

    def stats(self) -> BackendStats:
        """A snapshot of what waits and what is taken."""

    def __len__(self) -> int:
        """Items waiting in order (not delayed, not taken): what ``max_queue`` bounds."""


class LeasedBackend(QueueBackend[T], Protocol[T]):
    """A backend whose items are leases of a shared queue (see the module docstring)."""

    #: True: ``retry_at`` hands the item back to the shared queue (it comes back
    #: from ``take`` as a new item), so the dispatcher keeps nothing of it.
    leases: bool

    def finish(self, item: T, record: str, *, failed: bool) -> None:
        """Record ``item``'s final outcome (``record``: what its producer reads; "" for none)."""

    def give_back(self, items: Sequence[T]) -> int:
        """Return leases that did not end to the shared queue, place and priority kept;
        returns how many were still this process's."""
