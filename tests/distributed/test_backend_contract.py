"""One contract, two backends: LocalQueue (in process) and RedisBackend (real redis-server).

The same sequence of push, take, done, retry_at, set_priority, remove,
cancel_tag, set_priority_tag, set_limit and drain gives the same order and
the same results on either backend.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from netstack import RedisQueue
from netstack.dispatch.backend import QueueBackend
from netstack.dispatch.local import LocalQueue
from netstack.dispatch.ticket import Ticket
from netstack.distributed.ops import Popped

pytestmark = pytest.mark.timeout(60)


@dataclass
class _Job:
    host_key: str
    url: str = ""
    priority: int = 1

    def run(self) -> object:
        return None

    def abort(self) -> None:
        pass


class Items:
    """Named tickets, so both backends' results compare by name."""

    def __init__(self) -> None:
        self.by_name: dict[str, Ticket] = {}

    def make(self, name: str, host: str, priority: int = 1, tag: str | None = None) -> Ticket:
        ticket = Ticket(_Job(host), 0, priority, tag)  # type: ignore[arg-type]
        self.by_name[name] = ticket
        return ticket

    def names(self, tickets: list[Ticket]) -> list[str]:
        found = {id(t): n for n, t in self.by_name.items()}
        return [found[id(t)] for t in tickets]


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[QueueBackend[Ticket], Items]]:
    items = Items()
    if request.param == "local":
        local: QueueBackend[Ticket] = LocalQueue(2)
        yield local, items
        return
    url = request.getfixturevalue("redis_url")
    queue = RedisQueue(url, f"contract-{uuid.uuid4().hex[:8]}", max_per_host=2)

    def decode(popped: Popped) -> Ticket:
        raise AssertionError(f"only this process pushes here, got {popped}")

    remote: QueueBackend[Ticket] = queue.backend(lambda t: "{}", decode)
    try:
        yield remote, items
    finally:
        queue.clear()
        queue.close()


def _push(backend: QueueBackend[Ticket], items: Items, *specs: Any) -> None:
    now = time.monotonic()
    backend.push_many(
        [(items.make(name, host, p, tag), host, p, tag) for name, host, p, tag in specs], now
    )


def _take(backend: QueueBackend[Ticket], items: Items, limit: int) -> list[str]:
    return items.names(backend.take(time.monotonic(), limit))


def test_order_is_priority_then_submission_with_per_host_slots(
    backend: tuple[QueueBackend[Ticket], Items],
) -> None:
    queue, items = backend
    _push(queue, items, ("a1", "a", 5, None), ("a2", "a", 5, None), ("a3", "a", 9, None))
    _push(queue, items, ("b1", "b", 1, None), ("b2", "b", 7, None))
    # Best first across hosts; two slots per host leave a2 waiting.
    assert _take(queue, items, 10) == ["a3", "b2", "a1", "b1"]
    assert _take(queue, items, 10) == []
    queue.done(items.by_name["a3"])
    assert _take(queue, items, 10) == ["a2"]
    assert len(queue) == 0


def test_set_priority_remove_and_tags_act_on_waiting_items_only(
    backend: tuple[QueueBackend[Ticket], Items],
) -> None:
    queue, items = backend
    _push(
        queue,
        items,
        ("x1", "h", 1, "crawl"),
        ("x2", "h", 1, "crawl"),
        ("y1", "g", 1, "late"),
        ("y2", "g", 1, "late"),
        ("z", "k", 3, None),
    )
    assert queue.set_priority(items.by_name["y2"], 900)
    assert queue.remove(items.by_name["z"])
    assert not queue.remove(items.by_name["z"])
    assert sorted(items.names(queue.set_priority_tag("late", 500))) == ["y1", "y2"]
    assert _take(queue, items, 1) == ["y1"]  # 500 ties: submission order
    assert sorted(items.names(queue.cancel_tag("crawl"))) == ["x1", "x2"]
    assert not queue.set_priority(items.by_name["y1"], 7)  # taken: left alone
    assert _take(queue, items, 10) == ["y2"]
    assert queue.drain() == []


def test_a_retry_waits_holding_no_slot_and_comes_back_at_its_place(
    backend: tuple[QueueBackend[Ticket], Items],
) -> None:
    queue, items = backend
    _push(queue, items, ("r", "h", 5, None), ("s", "h", 1, None), ("t", "h", 1, None))
    assert _take(queue, items, 1) == ["r"]
    r = items.by_name["r"]
    queue.done(r)
    queue.retry_at(r, time.monotonic() + 0.3)
    assert _take(queue, items, 10) == ["s", "t"]  # r waits; s and t use the slots
    for name in ("s", "t"):
        queue.done(items.by_name[name])
    assert _take(queue, items, 10) == []
    wake = queue.next_wake
    assert wake is not None
    time.sleep(max(0.0, wake - time.monotonic()) + 0.05)
    assert _take(queue, items, 10) == ["r"]


def test_set_limit_gives_one_host_its_own_slots_and_drain_empties(
    backend: tuple[QueueBackend[Ticket], Items],
) -> None:
    queue, items = backend
    _push(queue, items, *[(f"a{i}", "a", 1, None) for i in range(4)], ("b", "b", 1, None))
    queue.set_limit("a", 3)
    assert _take(queue, items, 10) == ["a0", "a1", "a2", "b"]
    queue.set_limit("a", None)
    assert _take(queue, items, 10) == []
    assert items.names(queue.drain()) == ["a3"]
    assert len(queue) == 0


def test_delayed_and_empty_count_what_waits(
    backend: tuple[QueueBackend[Ticket], Items],
) -> None:
    queue, items = backend
    assert queue.empty
    _push(queue, items, ("d", "h", 1, None))
    assert not queue.empty
    assert _take(queue, items, 1) == ["d"]
    assert queue.empty  # taken items do not count
    d = items.by_name["d"]
    queue.done(d)
    queue.retry_at(d, time.monotonic() + 30)
    _take(queue, items, 0)  # the Redis backend records done and retry_at with its next call
    assert queue.delayed == 1
    assert not queue.empty
    assert items.names(queue.drain()) == ["d"]
    assert queue.delayed == 0
