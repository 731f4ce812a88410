"""What a request's future and a job sink need of the Scheduler that owns them.

Small Protocols, so that ``future.py``, ``local.py`` and the Redis sink
(``netstack.distributed.sink``) name no Scheduler class: the client package
has no import cycle, and ``netstack.scheduler`` imports nothing of
``netstack.distributed``.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["FutureOwner", "OwnerJobs", "SinkOwner"]


class OwnerJobs(Protocol):
    """``scheduler.jobs`` as a future uses it."""

    def withdraw(self, future: Any) -> bool: ...

    def abort(
        self, future: Any, *, error: BaseException | None = None, cancel_waiting: bool = True
    ) -> bool: ...


class FutureOwner(Protocol):
    """The scheduler of a ``RequestFuture``: ``set_priority``, ``cancel``, ``abort`` go there."""

    @property
    def jobs(self) -> OwnerJobs: ...

    def set_priority(self, future: Any, priority: int) -> None: ...


class SinkOwner(FutureOwner, Protocol):
    """The scheduler of a job sink: it names threads and errors after it."""

    @property
    def name(self) -> str: ...
