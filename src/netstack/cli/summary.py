"""The end-of-run summary of ``batch`` and ``demo``: counts, latency, cache, rate.

One :class:`Summary` collects outcomes as they complete (from one thread) and
renders them as a rich table: counts by status and by error code, p50, p95
and p99 of ``performance_timing.total_timing``, the cache hit ratio and the
requests per second over the run's wall-clock time. Latencies are kept in an
``array`` of doubles, 8 bytes a request, so a run of millions stays small.
"""

from __future__ import annotations

import statistics
import time
from array import array
from collections import Counter

from rich.table import Table

from netstack import HttpError, HttpResponse

__all__ = ["Summary"]


class Summary:
    """Outcomes of one run; feed it from a single thread."""

    def __init__(self, title: str = "Summary") -> None:
        self.title = title
        self.started = time.perf_counter()
        self.ended: float | None = None
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[int] = Counter()
        self.messages: dict[int, str] = {}
        self.latencies = array("d")
        self.cache_hits = 0
        self.cancelled = 0
        self.malformed = 0
        #: In flight when the run was abandoned (a second Ctrl-C): outcome unknown.
        self.abandoned = 0
        #: The last input line read (batch), to resume an interrupted run after it.
        self.lines_read: int | None = None

    def add_response(self, response: HttpResponse) -> None:
        self.statuses[int(response.response_code)] += 1
        self.latencies.append(response.performance_timing.total_timing)
        if response.from_cache:
            self.cache_hits += 1

    def add_error(self, error: BaseException) -> None:
        code = error.code if isinstance(error, HttpError) else 2300999
        self.errors[code] += 1
        if isinstance(error, HttpError):
            self.messages.setdefault(code, error.message)

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def finished(self) -> int:
        """Requests that ended with a response or an error."""
        return self.responses + self.failed

    def stop(self) -> None:
        """Freeze the wall-clock time (the first call wins)."""
        if self.ended is None:
            self.ended = time.perf_counter()

    @property
    def elapsed(self) -> float:
        end = self.ended if self.ended is not None else time.perf_counter()
        return max(end - self.started, 1e-9)

    def percentiles(self) -> tuple[float, float, float] | None:
        """p50, p95, p99 of the responses' total_timing (ms), or None without responses."""
        if not self.latencies:
            return None
        if len(self.latencies) == 1:
            only = self.latencies[0]
            return only, only, only
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[49], cuts[94], cuts[98]

    def table(self) -> Table:
        """The summary as a two-column rich table."""
        table = Table(title=self.title, show_header=False, title_justify="left")
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        table.add_column("note", style="dim")
        table.add_row("requests", f"{self.finished + self.cancelled + self.abandoned}", "")
        for status in sorted(self.statuses):
            table.add_row(f"status {status}", str(self.statuses[status]), "")
        for code in sorted(self.errors):
            table.add_row(f"error {code}", str(self.errors[code]), self.messages.get(code, ""))
        if self.cancelled:
            table.add_row("cancelled", str(self.cancelled), "queued when interrupted")
        if self.abandoned:
            table.add_row("abandoned", str(self.abandoned), "in flight at the second Ctrl-C")
        if self.malformed:
            table.add_row("malformed lines", str(self.malformed), "skipped")
        if self.lines_read is not None:
            table.add_row("input lines read", f"{self.lines_read:,}", "")
        cuts = self.percentiles()
        if cuts is not None:
            table.add_row(
                "latency p50 / p95 / p99", " / ".join(f"{c:.1f}" for c in cuts), "ms, total_timing"
            )
        if self.responses:
            ratio = self.cache_hits / self.responses
            table.add_row(
                "cache hit ratio", f"{ratio:.1%}", f"{self.cache_hits} of {self.responses}"
            )
        table.add_row(
            "requests/s", f"{self.finished / self.elapsed:,.1f}", f"over {self.elapsed:.2f} s"
        )
        return table
