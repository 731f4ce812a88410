"""TagIndex: per-tag counts of jobs (the option ``tag``). Pure, not thread-safe.

The dispatcher counts each tagged job as it is submitted, starts, stops and
ends; ``stats().tags[tag]`` is a :class:`TagStats`. Untagged jobs cost
nothing here. A tag's counts stay for the dispatcher's life (tags are few:
a job, a crawl, a user). Which jobs of a tag still wait is the queue
backend's business (``cancel_tag``, ``set_priority_tag``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["CANCELLED", "COMPLETED", "FAILED", "TagIndex", "TagStats"]

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


class _Tag:
    __slots__ = ("cancelled", "completed", "failed", "live", "running", "submitted")

    def __init__(self) -> None:
        self.live = 0
        self.submitted = 0
        self.running = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0


class TagIndex:
    """Tag -> counters."""

    __slots__ = ("_tags",)

    def __init__(self) -> None:
        self._tags: dict[str, _Tag] = {}

    def __bool__(self) -> bool:
        return bool(self._tags)

    def add(self, tag: str) -> None:
        """A job was submitted under ``tag``."""
        entry = self._tags.get(tag)
        if entry is None:
            entry = self._tags[tag] = _Tag()
        entry.live += 1
        entry.submitted += 1

    def started(self, tag: str) -> None:
        """A job of ``tag`` took a worker."""
        self._tags[tag].running += 1

    def stopped(self, tag: str) -> None:
        """A job of ``tag`` left its worker (ended, or waits for a retry)."""
        self._tags[tag].running -= 1

    def ended(self, tag: str, outcome: int) -> None:
        """A job of ``tag`` ended as COMPLETED, FAILED or CANCELLED."""
        entry = self._tags[tag]
        entry.live -= 1
        if outcome == COMPLETED:
            entry.completed += 1
        elif outcome == FAILED:
            entry.failed += 1
        else:
            entry.cancelled += 1

    def snapshot(self) -> dict[str, TagStats]:
        return {
            tag: TagStats(
                submitted=t.submitted,
                queued=t.live - t.running,
                running=t.running,
                completed=t.completed,
                failed=t.failed,
                cancelled=t.cancelled,
            )
            for tag, t in self._tags.items()
        }

    def __repr__(self) -> str:
        return f"<TagIndex {len(self._tags)} tags>"
