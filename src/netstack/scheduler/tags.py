"""Tags: named groups of requests (the option ``tag``), their live members and counts.

``Scheduler.cancel_all(tag)`` and ``Scheduler.set_priority_all(tag, p)`` act
on the members that have not ended; ``stats().tags[tag]`` is a
:class:`TagStats`. Untagged requests cost nothing here. The index is kept
under the scheduler's lock, like the queue; a tag's counts stay for the
scheduler's life (tags are few: a job, a crawl, a user), its member set
shrinks as requests end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Generic, TypeVar

__all__ = ["CANCELLED", "COMPLETED", "FAILED", "TagIndex", "TagStats"]

F = TypeVar("F")

COMPLETED: Final = 0
FAILED: Final = 1
CANCELLED: Final = 2


@dataclass(frozen=True, kw_only=True)
class TagStats:
    """The counts of one tag; as in SchedulerStats, ended ones sum to ``submitted``.

    ``queued`` includes requests waiting out a retry backoff.
    """

    submitted: int
    queued: int
    running: int
    completed: int
    failed: int
    cancelled: int


class _Tag(Generic[F]):
    __slots__ = ("cancelled", "completed", "failed", "live", "running", "submitted")

    def __init__(self) -> None:
        self.live: set[F] = set()
        self.submitted = 0
        self.running = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0


class TagIndex(Generic[F]):
    """Tag -> live members and counters. Not thread-safe (the scheduler's lock guards it)."""

    __slots__ = ("_tags",)

    def __init__(self) -> None:
        self._tags: dict[str, _Tag[F]] = {}

    def __bool__(self) -> bool:
        return bool(self._tags)

    def add(self, tag: str, member: F) -> None:
        """``member`` was submitted (queued) under ``tag``."""
        entry = self._tags.get(tag)
        if entry is None:
            entry = self._tags[tag] = _Tag()
        entry.live.add(member)
        entry.submitted += 1

    def started(self, tag: str) -> None:
        """A member took a worker."""
        self._tags[tag].running += 1

    def stopped(self, tag: str) -> None:
        """A member left its worker (ended, or waits for a retry)."""
        self._tags[tag].running -= 1

    def ended(self, tag: str, member: F, outcome: int) -> None:
        """``member`` ended as COMPLETED, FAILED or CANCELLED."""
        entry = self._tags[tag]
        entry.live.discard(member)
        if outcome == COMPLETED:
            entry.completed += 1
        elif outcome == FAILED:
            entry.failed += 1
        else:
            entry.cancelled += 1

    def members(self, tag: str) -> list[F]:
        """The members of ``tag`` that have not ended (in no particular order)."""
        entry = self._tags.get(tag)
        return [] if entry is None else list(entry.live)

    def snapshot(self) -> dict[str, TagStats]:
        return {
            tag: TagStats(
                submitted=t.submitted,
                queued=len(t.live) - t.running,
                running=t.running,
                completed=t.completed,
                failed=t.failed,
                cancelled=t.cancelled,
            )
            for tag, t in self._tags.items()
        }

    def __repr__(self) -> str:
        return f"<TagIndex {len(self._tags)} tags>"
