"""Fake jobs for scheduler tests: no HTTP, just the Job protocol."""

from __future__ import annotations

import threading
from collections.abc import Callable

from netstack.errors import ABORTED, HttpError


class FakeJob:
    """A Job whose run() records its name, optionally waits on a gate, then returns or raises."""

    __slots__ = (
        "aborted",
        "cache_miss",
        "error",
        "from_cache",
        "gate",
        "host_key",
        "name",
        "on_run",
        "priority",
        "ran",
        "result",
        "settled",
        "settled_error",
        "settled_result",
        "started",
        "url",
    )

    def __init__(
        self,
        name: object = None,
        *,
        host: str = "h",
        priority: int = 1,
        gate: threading.Event | None = None,
        result: object = None,
        error: BaseException | None = None,
        on_run: Callable[[FakeJob], None] | None = None,
    ) -> None:
        self.name = name
        self.host_key = host
        self.url = f"http://{host}/{name}"
        self.priority = priority
        self.settled = False
        self.settled_result: object = None
        self.settled_error: BaseException | None = None
        self.from_cache = False
        self.cache_miss = False
        self.gate = gate
        self.result = result if result is not None else name
        self.error = error
        self.on_run = on_run
        self.started = threading.Event()
        self.aborted = threading.Event()
        self.ran = False

    def run(self) -> object:
        self.ran = True
        self.started.set()
        if self.on_run is not None:
            self.on_run(self)
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if self.aborted.is_set():
                    raise HttpError.of(ABORTED)
        if self.error is not None:
            raise self.error
        return self.result

    def abort(self) -> None:
        self.aborted.set()


class MinimalJob:
    """The smallest realistic job, for the memory budget."""

    __slots__ = (
        "cache_miss",
        "from_cache",
        "host_key",
        "priority",
        "settled",
        "settled_error",
        "settled_result",
        "url",
    )

    def __init__(self, url: str, host: str, priority: int) -> None:
        self.url = url
        self.host_key = host
        self.priority = priority
        self.settled = False
        self.settled_result: object = None
        self.settled_error: BaseException | None = None
        self.from_cache = False
        self.cache_miss = False

    def run(self) -> object:
        return None

    def abort(self) -> None:
        pass
