"""HostQueue: order by (-priority, seq), per-host limits, lazy deletion kept bounded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from netstack.dispatch.queue import _SLACK, Entry, HostQueue

HOSTS = st.sampled_from(["a", "b", "c", "d"])
PRIORITIES = st.integers(min_value=1, max_value=5)


def test_pop_returns_highest_priority_then_submission_order() -> None:
    q: HostQueue[str] = HostQueue(max_per_host=10)
    for name, prio in [("low1", 1), ("high1", 9), ("low2", 1), ("high2", 9), ("mid", 5)]:
        q.push(name, "h", prio)
    order = []
    while (e := q.pop()) is not None:
        order.append(e.item)
    assert order == ["high1", "high2", "mid", "low1", "low2"]


def test_saturated_host_does_not_block_other_hosts_and_resumes_on_done() -> None:
    q: HostQueue[str] = HostQueue(max_per_host=1)
    q.push("a1", "a", 9)
    q.push("a2", "a", 9)
    q.push("b1", "b", 1)
    first = q.pop()
    assert first is not None
    assert first.item == "a1"
    assert q.in_flight("a") == 1
    assert q.saturated_hosts == 1
    second = q.pop()
    assert second is not None
    assert second.item == "b1"  # a2 waits for a's slot without blocking b
    assert q.pop() is None
    assert len(q) == 1
    q.done("a")
    third = q.pop()
    assert third is not None
    assert third.item == "a2"


def test_set_priority_keeps_original_submission_order() -> None:
    q: HostQueue[str] = HostQueue(max_per_host=10)
    early = q.push("early", "h", 1)
    q.push("mid", "h", 5)
    q.push("late", "h", 5)
    assert q.set_priority(early, 5)
    assert [q.pop().item for _ in range(3)] == ["early", "mid", "late"]  # type: ignore[union-attr]


def test_remove_and_set_priority_refuse_entries_no_longer_waiting() -> None:
    q: HostQueue[str] = HostQueue(max_per_host=10)
    e = q.push("x", "h", 1)
    assert q.pop() is e
    assert not e.waiting
    assert not q.remove(e)
    assert not q.set_priority(e, 7)
    q.done("h")
    with pytest.raises(ValueError, match="no entry of that host is in flight"):
        q.done("h")


def test_idle_hosts_are_forgotten_so_memory_follows_live_hosts() -> None:
    q: HostQueue[int] = HostQueue(max_per_host=2)
    for i in range(1000):
        e = q.push(i, f"host{i}", 1)
        if i % 2:
            q.remove(e)
        else:
            assert q.pop() is e
            q.done(f"host{i}")
    assert q._hosts == {}
    assert len(q) == 0


def test_repeated_reprioritisation_keeps_heaps_compact() -> None:
    q: HostQueue[int] = HostQueue(max_per_host=1)
    entries = [q.push(i, "h", 1) for i in range(10)]
    for round_ in range(10_000):
        q.set_priority(entries[round_ % 10], round_ % 1000 + 1)
    host = q._hosts["h"]
    assert len(host.heap) <= 2 * host.live + _SLACK
    assert len(q._ready) <= 2 * q.ready_hosts + _SLACK


def test_drain_returns_waiting_entries_in_dispatch_order_and_keeps_in_flight() -> None:
    q: HostQueue[str] = HostQueue(max_per_host=1)
    q.push("a1", "a", 1)
    q.push("a2", "a", 3)
    q.push("b1", "b", 2)
    running = q.pop()
    assert running is not None
    assert running.item == "a2"
    assert [e.item for e in q.drain()] == ["b1", "a1"]
    assert len(q) == 0
    assert q.in_flight("a") == 1
    q.done("a")
    assert q.pop() is None


class HostQueueMachine(RuleBasedStateMachine):
    """Any interleaving of push/pop/done/set_priority/remove matches a naive model."""

    MAX = 2
    entries = Bundle("entries")

    def __init__(self) -> None:
        super().__init__()
        self.q: HostQueue[int] = HostQueue(max_per_host=self.MAX)
        self.waiting: dict[int, tuple[int, str]] = {}  # seq -> (priority, host)
        self.inflight: dict[str, int] = {}
        self.next = 0

    def model_best(self) -> int | None:
        runnable = [
            (-p, seq) for seq, (p, h) in self.waiting.items() if self.inflight.get(h, 0) < self.MAX
        ]
        return min(runnable)[1] if runnable else None

    @rule(target=entries, host=HOSTS, priority=PRIORITIES)
    def push(self, host: str, priority: int) -> Entry[int]:
        seq = self.next
        self.next += 1
        self.waiting[seq] = (priority, host)
        return self.q.push(seq, host, priority)

    @rule()
    def pop(self) -> None:
        expected = self.model_best()
        got = self.q.pop()
        assert (None if got is None else got.item) == expected
        if got is not None:
            _, host = self.waiting.pop(got.item)
            self.inflight[host] = self.inflight.get(host, 0) + 1

    @precondition(lambda self: any(self.inflight.values()))
    @rule(data=st.data())
    def done(self, data: st.DataObject) -> None:
        host = data.draw(st.sampled_from(sorted(h for h, n in self.inflight.items() if n)))
        self.inflight[host] -= 1
        self.q.done(host)

    @rule(entry=entries, priority=PRIORITIES)
    def set_priority(self, entry: Entry[int], priority: int) -> None:
        was_waiting = entry.item in self.waiting
        assert self.q.set_priority(entry, priority) == was_waiting
        if was_waiting:
            self.waiting[entry.item] = (priority, self.waiting[entry.item][1])

    @rule(entry=consumes(entries))
    def remove(self, entry: Entry[int]) -> None:
        was_waiting = entry.item in self.waiting
        assert self.q.remove(entry) == was_waiting
        self.waiting.pop(entry.item, None)

    @invariant()
    def counts_match(self) -> None:
        assert len(self.q) == len(self.waiting)
        ready = {h for p, h in self.waiting.values() if self.inflight.get(h, 0) < self.MAX}
        assert self.q.ready_hosts == len(ready)
        assert self.q.saturated_hosts == sum(n == self.MAX for n in self.inflight.values())
        for host, n in self.inflight.items():
            assert self.q.in_flight(host) == n

    @invariant()
    def heaps_stay_bounded(self) -> None:
        for host in self.q._hosts.values():
            assert len(host.heap) <= 2 * host.live + _SLACK
        assert len(self.q._ready) <= 2 * self.q.ready_hosts + _SLACK


HostQueueMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60)
test_host_queue_matches_model = HostQueueMachine.TestCase


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), HOSTS, PRIORITIES),
        st.tuples(st.just("set_priority"), st.integers(0, 50), PRIORITIES),
        st.tuples(st.just("remove"), st.integers(0, 50), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(ops=OPS)
def test_dispatch_order_is_priority_then_original_seq_of_survivors(
    ops: list[tuple[str, object, int]],
) -> None:
    """Any mix of push / set_priority / remove, then draining: order by (-priority, seq)."""
    q: HostQueue[int] = HostQueue(max_per_host=1)
    entries: list[Entry[int]] = []
    final: dict[int, int] = {}
    for op, arg, priority in ops:
        if op == "push":
            assert isinstance(arg, str)
            entries.append(q.push(len(entries), arg, priority))
            final[len(entries) - 1] = priority
        elif entries:
            assert isinstance(arg, int)
            entry = entries[arg % len(entries)]
            if op == "set_priority":
                q.set_priority(entry, priority)
                if entry.item in final:
                    final[entry.item] = priority
            else:
                q.remove(entry)
                final.pop(entry.item, None)
    order = []
    while (e := q.pop()) is not None:  # one at a time: every host's slot is free again
        order.append(e.item)
        q.done(e.host_key)
    assert order == sorted(final, key=lambda seq: (-final[seq], seq))
