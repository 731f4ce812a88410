"""QueueOps: every operation on the shared queue, each one round trip (a Lua script).

All keys of queue NAME start with ``netstack:{NAME}:`` (one hash tag, so one
Cluster slot: a queue lives on one shard and the scripts run on a Redis
Cluster too):

==================  ======  =====================================================
``job``             hash    id -> ``rank\npriority\nhost\ntries\nreply\npace\ntag\n``
                            then the payload (JSON, see ``wire.py``); present
                            until the request ends: its presence is "not yet ended"
``q``               zset    waiting ids of every host, by rank (below)
``park:<host>``     zset    waiting ids of a host that had no free slot (or whose
                            pace was not due) when popped; back to ``q`` when it has
``paced``           zset    hosts held by their pace, by the time they are due
``delayed``         zset    ids waiting out a retry backoff, by due time
``leases``          zset    ``<id>@<worker token>`` by lease expiry (ms, Redis' clock)
``tag:<tag>``       set     the ids of a tag not yet ended
``pace``            hash    host -> ``<last start>,<tat>,<until>`` (ms) of a paced
                            host; entries past ``until`` are swept a few at a time
``state``           hash    the queue's small state, read and written once per
                            script call: ``epoch`` (a random id: changes when
                            Redis lost the queue), ``seq`` (the last id), ``t0``
                            (creation, ms), ``max`` (``max_per_host``, default 8),
                            ``i:<host>`` leases held, ``p:<host>`` parked,
                            ``m:<host>`` a host's own slot count, ``idle``
                            workers blocked on ``wake``, ``sweep``, ``pcur``,
                            ``due``, ``paced`` (next checks), ``aborts``, per-tag
                            ``t:<tag>:<counter>`` and ``r:<tag>`` (running), and the
                            counters submitted completed failed cancelled expired
                            returned duplicates
``wake``            list    tokens that wake idle workers (BLPOP), one per idle worker
``reply:<token>``   list    outcomes for one producer, expiring after a day
``aborts``          set     ids whose producer aborted them while running
==================  ======  =====================================================

Ids are zero-padded to 15 digits in Redis (``job_field``). The rank is
``1000 - priority``, plus, for a producer with ``aging``, the seconds from
the queue's creation to the request's entry divided by ``aging``: an older
request of an aging producer gains one priority step per ``aging`` seconds
against newer ones. Equal ranks sort by id (the zero-padded member), which
is submission order across every producer.

A worker's one call, ``exchange``, records the outcomes it has (checks that
each request has not ended, deletes it, releases its lease and host slot,
pushes the outcome to its producer's list), returns expired leases to their
place (at most every 250 ms across all workers), and leases up to ``want``
requests: ZPOPMIN of ``q``; an id whose host already holds ``max`` leases is
parked and comes back when a slot of that host frees. About a dozen commands
per call, whatever the number of requests in it: a request leased and
recorded in calls of n costs roughly 13/n commands, plus its share of the
push (about 5 commands per submitted chunk of up to 1,000).
A request is recorded once: the first outcome deletes the job; a later one
(a stalled worker whose lease expired) is counted in ``duplicates``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from netstack.distributed import scripts
from netstack.distributed.scripts import DEFAULT_MAX_PER_HOST
from netstack.log import log_event

if TYPE_CHECKING:
    import redis

__all__ = [
    "COUNTERS",
    "DEFAULT_MAX_PER_HOST",
    "MOST_PER_CALL",
    "RESULT_TTL",
    "Exchanged",
    "Finished",
    "Popped",
    "Pushed",
    "QueueOps",
    "job_field",
    "queue_prefix",
]

#: The queue's counters, in the ``state`` hash.
COUNTERS: Final = (
    "submitted",
    "completed",
    "failed",
    "cancelled",
    "expired",
    "returned",
    "duplicates",
)

#: Seconds an outcome waits in Redis for its producer before it expires.
RESULT_TTL: Final = 24 * 3600
#: Most requests one script call takes, records, renews or gives back: Redis' Lua
#: unpacks at most about 8,000 values into one command.
MOST_PER_CALL: Final = 1000
#: Keys with a fixed Redis type; anything else there is repaired (renamed aside).
_TYPES: Final = {"state": b"hash", "job": b"hash", "q": b"zset", "leases": b"zset", "wake": b"list"}


def job_field(request_id: int) -> str:
    """A request's id as the queue's keys hold it (zero-padded: equal ranks sort by id)."""
    return f"{request_id:015d}"


def queue_prefix(name: str) -> str:
    """The key prefix of queue ``name`` (a hash tag: one Cluster slot)."""
    return f"netstack:{{{name}}}:"


@dataclass(slots=True, eq=False)
class Popped:
    """A request a worker leased (one object per lease: equal by identity, as the
    backend keys its items; not frozen, whose ``__init__`` costs four times as much)."""

    request_id: int
    payload: bytes
    priority: int
    #: 1 the first time a worker takes it; more after a lease expired.
    attempt: int
    host: str = ""
    #: The producer's token (its outcome list), None when nobody waits for it.
    reply: str | None = None


@dataclass(frozen=True, slots=True)
class Pushed:
    """A request to queue: ``pace`` is ``""`` or ``"<gap ms>,<interval ms>,<burst>"``."""

    host: str
    priority: int
    payload: str
    tag: str | None = None
    pace: str = ""
    #: Seconds of waiting worth one priority step (0: no aging).
    aging: float = 0.0


@dataclass(slots=True)
class Finished:
    """What a worker reports: ``counter`` is ``completed``, ``failed`` or ``retry``.

    ``retry`` parks the request in Redis for ``retry_ms`` (holding no slot),
    then it waits at its place again.
    """

    request_id: int
    counter: str
    outcome: str
    host: str = ""
    retry_ms: int = 0


@dataclass(frozen=True, slots=True)
class Exchanged:
    """What one ``exchange`` call did."""

    epoch: str
    #: Per ``Finished``, in order: True if recorded, False if the request had ended.
    recorded: list[bool]
    popped: list[Popped]
    #: Ids whose job value was unreadable: removed and counted as failed.
    dropped: list[int]
    warnings: list[str]
    #: Seconds until a retry or a paced host is due (None: nothing delayed).
    next_due: float | None = None
    #: Changes when a producer aborts a running request (see ``QueueOps.abort_running``).
    aborts: str = "0"


class QueueOps:
    """The shared queue's operations on one client; every method is one round trip.

    ``round_trips`` counts the calls made (for benchmarks). A key holding a
    value of the wrong type (written by something else) is renamed aside to
    ``<key>:corrupt`` with a warning, and the call retried once.
    """

    def __init__(self, client: redis.Redis, name: str) -> None:
        self.client = client
        self.name = name
        self.prefix = queue_prefix(name)
        self.round_trips = 0
        register = client.register_script
        self._push = register(scripts.PUSH)
        self._exchange = register(scripts.EXCHANGE)
        self._renew = register(scripts.RENEW)
        self._give_back = register(scripts.GIVE_BACK)
        self._cancel = register(scripts.CANCEL)
        self._set_priority = register(scripts.SET_PRIORITY)
        self._configure = register(scripts.CONFIGURE)
        self._tagged = register(scripts.TAGGED)
        self._set_limit = register(scripts.SET_LIMIT)
        self._missing = register(scripts.MISSING)
        self._blmpop = True

    def key(self, suffix: str) -> str:
        return self.prefix + suffix

    def _run(self, script: Any, args: Sequence[str | int | float]) -> Any:
        self.round_trips += 1
        try:
            return script(args=args)
        except Exception as exc:
            if "WRONGTYPE" not in str(exc) or not self.repair():
                raise
        self.round_trips += 1
        return script(args=args)

    def repair(self) -> list[str]:
        """Rename aside every key of this queue holding the wrong type; their names."""
        pipe = self.client.pipeline(transaction=False)
        for suffix in _TYPES:
            pipe.type(self.key(suffix))
        found = pipe.execute()
        renamed = []
        for (suffix, expected), kind in zip(_TYPES.items(), found, strict=True):
            actual = kind if isinstance(kind, bytes) else str(kind).encode()
            if actual not in (expected, b"none"):
                self.client.rename(self.key(suffix), self.key(suffix + ":corrupt"))
                renamed.append(suffix)
        if renamed:
            log_event(
                logging.WARNING,
                "redis_queue_repaired",
                queue=self.name,
                keys=renamed,
                detail=f"renamed aside to {self.prefix}<key>:corrupt; the queue goes on",
            )
        return renamed

    def push(self, items: Sequence[Pushed], reply: str | None, epoch: str) -> tuple[str, list[int]]:
        """Queue ``items`` in this order: ``(epoch, ids)``."""
        args: list[str | int | float] = [self.prefix, epoch, reply or ""]
        for item in items:
            args += (item.host, item.priority, item.pace, item.tag or "", item.aging, item.payload)
        found_epoch, first, warnings = self._run(self._push, args)
        self._warn(warnings)
        first = int(first)
        return _text(found_epoch), list(range(first, first + len(items)))

    def exchange(
        self,
        worker: str,
        lease_ms: int,
        want: int,
        finished: Sequence[Finished] = (),
        *,
        was_idle: bool = False,
        will_block: bool = False,
        epoch: str = "",
        pace: str = "",
        ready: int | None = None,
    ) -> Exchanged:
        """Record ``finished`` (or park retries), then lease up to ``want`` requests.

        At most ``MOST_PER_CALL`` of each: a larger ``want`` leases that many, more
        ``finished`` is a ValueError (the caller records the rest in its next call).

        ``pace`` paces the hosts of jobs that travel without one (the worker's own).
        ``ready`` (default ``want``) is how many of them the caller starts at once:
        a request whose host is paced is leased only among those, because its pace
        counts from its lease; the rest wait in Redis for a caller with a free thread.
        """
        if len(finished) > MOST_PER_CALL:
            raise ValueError(f"at most {MOST_PER_CALL} finished requests per exchange")
        want = min(want, MOST_PER_CALL)
        hints = sorted({f.host for f in finished if f.host})
        args: list[str | int] = [
            self.prefix,
            worker,
            lease_ms,
            want,
            int(was_idle),
            int(will_block),
            epoch,
            RESULT_TTL,
            pace,
            want if ready is None else ready,
            len(hints),
            *hints,
        ]
        # one argument per outcome (``<id> <counter> <retry ms> <outcome>``): the client
        # encodes each argument in Python, so four per request cost more than the joining
        args += [f"{f.request_id} {f.counter} {f.retry_ms} {f.outcome}" for f in finished]
        found_epoch, recorded, popped, dropped, warnings, next_due, aborts = self._run(
            self._exchange, args
        )
        self._warn(warnings)
        return Exchanged(
            _text(found_epoch),
            [bool(x) for x in recorded],
            [
                Popped(
                    int(request_id),
                    payload,
                    int(priority),
                    int(attempt),
                    _text(host),
                    _text(reply) or None,
                )
                for request_id, payload, priority, attempt, host, reply in popped
            ],
            [int(i) for i in dropped],
            [_text(w) for w in warnings],
            None if int(next_due) < 0 else int(next_due) / 1000,
            _text(aborts),
        )

    def _warn(self, warnings: list[bytes]) -> None:
        if warnings:
            log_event(
                logging.WARNING,
                "redis_queue_state_repaired",
                queue=self.name,
                fields=sorted({_text(w) for w in warnings}),
                detail="unreadable values in the state hash were reset to their defaults",
            )

    def pop(self, worker: str, lease_ms: int) -> Popped | None:
        """Lease the best request whose host has a free slot; None if there is none."""
        found = self.pop_many(worker, lease_ms, 1)
        return found[0] if found else None

    def pop_many(self, worker: str, lease_ms: int, count: int) -> list[Popped]:
        """Lease up to ``count`` requests, best first, as ``count`` pops would."""
        return self.exchange(worker, lease_ms, count).popped

    def finish(self, worker: str, request_id: int, counter: str, outcome: str) -> bool:
        """Record one outcome; False if the request had already ended (a duplicate run)."""
        done = self.exchange(worker, 1, 0, [Finished(request_id, counter, outcome)])
        return done.recorded[0]

    def renew(self, worker: str, ids: Iterable[int], lease_ms: int) -> list[int]:
        """Extend this worker's leases; returns the ids it no longer holds."""
        lost: list[int] = []
        for chunk in _chunks(ids):
            lost += (
                int(i) for i in self._run(self._renew, [self.prefix, worker, lease_ms, *chunk])
            )
        return lost

    def give_back(self, worker: str, ids: Iterable[int]) -> int:
        """Return leased requests to their place in the queue (not counted as attempts)."""
        return sum(
            int(self._run(self._give_back, [self.prefix, worker, *chunk])) for chunk in _chunks(ids)
        )

    def cancel(self, ids: Sequence[int]) -> list[bool]:
        """Take waiting requests out; False for each one running or ended."""
        return [
            bool(x)
            for chunk in _chunks(ids)
            for x in self._run(self._cancel, [self.prefix, *chunk])
        ]

    def set_priority(self, request_id: int, priority: int) -> bool:
        """Move a waiting request to ``priority``, keeping its sequence; False if not waiting."""
        return bool(self._run(self._set_priority, [self.prefix, request_id, priority]))

    def cancel_tag(self, tag: str) -> list[int]:
        """Cancel every waiting request of ``tag``, every producer's; their ids.

        Each one's producer gets ``{"cancelled": true, "id": N}`` on its list.
        """
        return [int(i) for i in self._run(self._tagged, [self.prefix, tag, "cancel", 0])]

    def set_priority_tag(self, tag: str, priority: int) -> list[int]:
        """Move every waiting request of ``tag`` to ``priority``; their ids."""
        found = self._run(self._tagged, [self.prefix, tag, "priority", priority])
        return [int(i) for i in found]

    def tag_counts(self, tag: str) -> dict[str, int]:
        """``submitted live running completed failed cancelled`` of ``tag``, all processes."""
        found = self._run(self._tagged, [self.prefix, tag, "stats", 0])
        names = ("submitted", "live", "running", "completed", "failed", "cancelled")
        return {name: int(value) for name, value in zip(names, found, strict=True)}

    def abort_running(self, request_id: int) -> None:
        """Ask the worker running ``request_id`` to abort it (it looks at its next call).

        The ``aborts`` set expires a minute after the last abort.
        """
        self.round_trips += 1
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(self.key("aborts"), request_id)
        pipe.expire(self.key("aborts"), 60)
        pipe.hincrby(self.key("state"), "aborts", 1)
        pipe.execute()

    def aborted(self, ids: Sequence[int]) -> list[int]:
        """Which of ``ids`` a producer asked to abort."""
        if not ids:
            return []
        self.round_trips += 1
        found = self.client.smismember(self.key("aborts"), list(ids))
        return [i for i, hit in zip(ids, found, strict=True) if hit]

    def set_limit(self, host: str, slots: int | None) -> None:
        """Give ``host`` its own slot count across every worker (None: ``max_per_host``)."""
        self._run(self._set_limit, [self.prefix, host, "" if slots is None else slots])

    def configure(self, max_per_host: int) -> None:
        self._run(self._configure, [self.prefix, max_per_host])

    def max_per_host(self) -> int:
        self.round_trips += 1
        value = self.client.hget(self.key("state"), "max")
        try:
            found = int(value) if value is not None else DEFAULT_MAX_PER_HOST
        except ValueError:
            return DEFAULT_MAX_PER_HOST
        return found if found >= 1 else DEFAULT_MAX_PER_HOST

    def epoch(self) -> str | None:
        """The queue's epoch; None when Redis holds no state for it (lost, or never used)."""
        self.round_trips += 1
        value = self.client.hget(self.key("state"), "epoch")
        return None if value is None else _text(value)

    def corrupt(self, request_id: int, payload: bytes) -> None:
        """Replace a waiting request's payload, keeping its header (tests of hostile data)."""
        key, field = self.key("job"), job_field(request_id)
        value: bytes | None = self.client.hget(key, field)  # type: ignore[assignment]
        assert value is not None
        head = value.split(b"\n", 7)[:7]
        self.client.hset(key, field, b"\n".join([*head, payload]))

    def wait(self, timeout: float) -> bool:
        """Block until a wake token arrives (work may be ready) or ``timeout`` passes."""
        self.round_trips += 1
        return self.client.blpop([self.key("wake")], timeout=timeout) is not None

    def results(self, reply: str, timeout: float, batch: int = 512) -> list[bytes]:
        """Outcomes for producer ``reply``: waits up to ``timeout`` for the first."""
        key = self.key("reply:" + reply)
        self.round_trips += 1
        if self._blmpop:
            try:
                found = self.client.execute_command(  # type: ignore[no-untyped-call]
                    "BLMPOP", timeout, 1, key, "LEFT", "COUNT", batch
                )
            except Exception as exc:
                if "unknown command" not in str(exc).lower():
                    raise
                self._blmpop = False  # Redis < 7: BLPOP then LPOP
            else:
                return [] if not found else list(found[1])
        first = self.client.blpop([key], timeout=timeout)
        if first is None:
            return []
        self.round_trips += 1
        rest = self.client.lpop(key, batch - 1) or []
        return [first[1], *rest]

    def results_now(self, reply: str, batch: int = 512) -> list[bytes]:
        """Up to ``batch`` outcomes for producer ``reply``, without waiting."""
        self.round_trips += 1
        found = self.client.lpop(self.key("reply:" + reply), batch)
        return list(found) if found else []  # type: ignore[arg-type]

    def missing(self, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` the queue holds no entry for: ended (their outcome is on their
        producer's list already) or lost (dropped as unreadable, deleted by hand)."""
        if not ids:
            return []
        return [int(i) for i in self._run(self._missing, [self.prefix, *ids])]

    def counts(self) -> dict[str, int]:
        """The counters plus ``waiting`` and ``leased`` now."""
        self.round_trips += 1
        pipe = self.client.pipeline(transaction=True)
        pipe.hmget(self.key("state"), list(COUNTERS))
        pipe.hlen(self.key("job"))
        pipe.zcard(self.key("leases"))
        raw, jobs, leased = pipe.execute()
        counts = {name: _int(value) for name, value in zip(COUNTERS, raw, strict=True)}
        counts["leased"] = int(leased)
        counts["waiting"] = max(0, int(jobs) - int(leased))
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


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """``ids`` in lists of at most ``MOST_PER_CALL`` (one script call each)."""
    ids = list(ids)
    for start in range(0, len(ids), MOST_PER_CALL):
        yield ids[start : start + MOST_PER_CALL]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
