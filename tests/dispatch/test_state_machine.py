"""The dispatcher's state object driven by hypothesis, without threads or a clock.

Random submits, completions (success, failure, retry after a delay),
withdrawals, aborts, priority changes (one by one and by tag), tag cancels,
time advancing and closing. A model predicts exactly which tickets each
decision starts: while a worker is free, the waiting ticket with the best
``(-priority, seq)`` among hosts with a free slot, where ``seq`` is the order
in which the ticket entered the queue (a retry re-enters when due). After
every step: each ticket ended at most once and exactly when the model says,
per-host and worker limits hold, and the counters add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from netstack.dispatch.local import LocalQueue
from netstack.dispatch.state import Dispatcher, Effects
from netstack.dispatch.ticket import Ticket

MAX_WORKERS = 3
MAX_PER_HOST = 2
hosts = st.sampled_from(["a", "b", "c", "d"])
priorities = st.sampled_from([1, 2, 5, 1000])
tags = st.sampled_from([None, "x", "y"])


class Job:
    """A job the machine never runs: it only needs a host key."""

    def __init__(self, host: str, priority: int) -> None:
        self.host_key = host
        self.url = f"http://{host}/"
        self.priority = priority
        self.aborted = False

    def run(self) -> object:  # pragma: no cover - never called here
        raise AssertionError

    def abort(self) -> None:
        self.aborted = True


@dataclass
class Model:
    """Where each ticket is, as the machine expects."""

    waiting: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (priority, seq)
    delayed: dict[int, tuple[float, int]] = field(default_factory=dict)  # id -> (due, order)
    running: set[int] = field(default_factory=set)
    ran: set[int] = field(default_factory=set)  # ran at least once (withdraw refuses them)
    ended: dict[int, str] = field(default_factory=dict)  # id -> completed|failed|cancelled
    seq: int = 0
    order: int = 0


class DispatcherMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = Dispatcher(LocalQueue(MAX_PER_HOST), MAX_WORKERS)
        self.now = 0.0
        self.tickets: list[Ticket] = []
        self.jobs: list[Job] = []
        self.model = Model()
        self.settled_count: dict[int, int] = {}
        #: Aborted while running: the run has not returned yet (it holds its slot).
        self.aborted_running: set[int] = set()

    # -- helpers ---------------------------------------------------------------

    def _id(self, ticket: Ticket) -> int:
        return ticket.request_id

    def _host(self, i: int) -> str:
        return self.jobs[i].host_key

    def _advance(self) -> None:
        """What the backend does first in every take: due retries re-enter, in due order."""
        m = self.model
        due = sorted((d, o, i) for i, (d, o) in m.delayed.items() if d <= self.now)
        for _, _, i in due:
            del m.delayed[i]
            m.waiting[i] = (self.tickets[i]._priority, m.seq)
            m.seq += 1

    def _expected_starts(self) -> list[int]:
        m = self.model
        busy: dict[str, int] = {}
        holding = m.running | self.aborted_running  # an aborted run holds its slot until it returns
        for i in holding:
            busy[self._host(i)] = busy.get(self._host(i), 0) + 1
        free = MAX_WORKERS - len(holding)
        out: list[int] = []
        candidates = dict(m.waiting)
        while free > 0:
            ready = [
                (-p, s, i)
                for i, (p, s) in candidates.items()
                if busy.get(self._host(i), 0) < MAX_PER_HOST
            ]
            if not ready:
                break
            _, _, best = min(ready)
            del candidates[best]
            busy[self._host(best)] = busy.get(self._host(best), 0) + 1
            out.append(best)
            free -= 1
        return out

    def _apply(self, effects: Effects, promoted: bool = True) -> None:
        """Check the effects against the model, then move the model."""
        m = self.model
        if promoted:
            expected = self._expected_starts()
            started = [self._id(t) for t in effects.start or []]
            assert started == expected
            for i in started:
                del m.waiting[i]
                m.running.add(i)
                m.ran.add(i)
        else:
            assert not effects.start
        for ticket in effects.cancelled or []:
            self._ended(self._id(ticket))
        for ticket, _, _, _ in effects.settle or []:
            self._ended(self._id(ticket))

    def _ended(self, i: int) -> None:
        self.settled_count[i] = self.settled_count.get(i, 0) + 1
        assert self.settled_count[i] == 1, f"ticket {i} ended twice"
        assert i in self.model.ended, f"ticket {i} ended unexpectedly"

    def _pick(self, data: st.DataObject, pool: set[int] | dict[int, object]) -> int | None:
        if not pool:
            return None
        return data.draw(st.sampled_from(sorted(pool)))

    # -- rules -------------------------------------------------------------------

    @precondition(lambda self: not self.state.closed)
    @rule(host=hosts, priority=priorities, tag=tags)
    def submit(self, host: str, priority: int, tag: str | None) -> None:
        i = len(self.tickets)
        job = Job(host, priority)
        ticket = Ticket(job, i, priority, tag)
        self.jobs.append(job)
        self.tickets.append(ticket)
        self._advance()
        self.model.waiting[i] = (priority, self.model.seq)
        self.model.seq += 1
        self._apply(self.state.submit(ticket, self.now))

    @rule(data=st.data(), outcome=st.sampled_from(["ok", "error", "retry"]), delay=st.floats(0, 3))
    def finish(self, data: st.DataObject, outcome: str, delay: float) -> None:
        m = self.model
        i = self._pick(data, m.running)
        if i is None:
            return
        m.running.discard(i)
        retry = outcome == "retry" and not self.state.stop_retries
        error = RuntimeError("boom") if outcome == "error" else None
        if retry:
            m.delayed[i] = (self.now + delay, m.order)
            m.order += 1
        else:
            m.ended[i] = "failed" if error else "completed"
        effects = self.state.finished(
            self.tickets[i], "r", error, delay if outcome == "retry" else None, self.now
        )
        self._advance()
        self._apply(effects)
        if not retry:
            assert [t.request_id for t, *_ in effects.settle or []] == [i]

    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        m = self.model
        i = self._pick(data, set(m.waiting) | set(m.delayed) | m.running)
        if i is None:
            return
        expect = (i in m.waiting or i in m.delayed) and i not in m.ran
        assert self.state.withdraw(self.tickets[i]) == expect
        if expect:
            m.waiting.pop(i, None)
            m.delayed.pop(i, None)
            m.ended[i] = "cancelled"
            self._ended(i)

    @rule(data=st.data(), cancel_waiting=st.booleans())
    def abort(self, data: st.DataObject, cancel_waiting: bool) -> None:
        m = self.model
        i = self._pick(data, set(m.waiting) | set(m.delayed) | m.running)
        if i is None:
            return
        if i in m.running:
            m.running.discard(i)
            m.ended[i] = "failed"
            self.aborted_running.add(i)
        else:
            m.waiting.pop(i, None)
            m.delayed.pop(i, None)
            never_ran = i not in m.ran
            m.ended[i] = "cancelled" if never_ran and cancel_waiting else "failed"
        effects = self.state.abort(
            self.tickets[i], ValueError("abort"), cancel_waiting=cancel_waiting
        )
        self._apply(effects, promoted=False)
        assert (i in self.aborted_running) == bool(effects.aborts)

    @rule(data=st.data())
    def aborted_run_returns(self, data: st.DataObject) -> None:
        """The run of an aborted ticket returns: its slot frees, nothing settles again."""
        i = self._pick(data, self.aborted_running)
        if i is None:
            return
        self.aborted_running.discard(i)
        self._advance()
        self._apply(self.state.finished(self.tickets[i], None, None, None, self.now))

    @rule(data=st.data(), priority=priorities)
    def set_priority(self, data: st.DataObject, priority: int) -> None:
        m = self.model
        i = self._pick(data, set(m.waiting) | set(m.delayed) | m.running)
        if i is None:
            return
        expect = i in m.waiting or i in m.delayed
        assert self.state.set_priority(self.tickets[i], priority) == expect
        if i in m.waiting:
            m.waiting[i] = (priority, m.waiting[i][1])

    @rule(tag=st.sampled_from(["x", "y"]), priority=priorities)
    def set_priority_tag(self, tag: str, priority: int) -> None:
        m = self.model
        members = [i for i in list(m.waiting) + list(m.delayed) if self.tickets[i]._tag == tag]
        assert self.state.set_priority_tag(tag, priority) == len(members)
        for i in members:
            if i in m.waiting:
                m.waiting[i] = (priority, m.waiting[i][1])

    @rule(tag=st.sampled_from(["x", "y"]))
    def cancel_tag(self, tag: str) -> None:
        m = self.model
        members = [i for i in list(m.waiting) + list(m.delayed) if self.tickets[i]._tag == tag]
        for i in members:
            m.waiting.pop(i, None)
            m.delayed.pop(i, None)
            m.ended[i] = "cancelled" if i not in m.ran else "completed"
        count, effects = self.state.cancel_tag(tag)
        assert count == len(members)
        self._apply(effects, promoted=False)

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 4.0]))
    def tick(self, dt: float) -> None:
        self.now += dt
        self._advance()
        effects = self.state.tick(self.now)
        self._apply(effects)
        nxt = self.state.backend.next_wake
        if self.model.delayed:
            assert nxt is not None
            assert nxt <= min(d for d, _ in self.model.delayed.values())

    @precondition(lambda self: not self.state.closed)
    @rule(cancel_pending=st.booleans())
    def close(self, cancel_pending: bool) -> None:
        m = self.model
        if cancel_pending:
            for i in list(m.waiting) + list(m.delayed):
                m.ended[i] = "cancelled" if i not in m.ran else "completed"
            m.waiting.clear()
            m.delayed.clear()
        self._apply(self.state.close(cancel_pending), promoted=False)

    # -- invariants --------------------------------------------------------------

    @invariant()
    def limits_hold(self) -> None:
        m = self.model
        busy = len(m.running) + len(self.aborted_running)
        assert self.state.running == busy <= MAX_WORKERS
        per_host: dict[str, int] = {}
        for i in m.running | self.aborted_running:
            per_host[self._host(i)] = per_host.get(self._host(i), 0) + 1
        assert all(n <= MAX_PER_HOST for n in per_host.values())
        queue = self.state.backend.host_queue
        for host, n in per_host.items():
            assert queue.in_flight(host) == n

    @invariant()
    def counts_add_up(self) -> None:
        m, s = self.model, self.state
        ended = list(m.ended.values())
        assert s.completed == ended.count("completed")
        assert s.failed == ended.count("failed")
        assert s.cancelled == ended.count("cancelled")
        assert s.submitted == len(self.tickets)
        assert len(s.backend) == len(m.waiting)
        assert s.backend.delayed == len(m.delayed)
        assert set(self.settled_count) == set(m.ended)  # ended ones were settled exactly once


DispatcherMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None
)
test_dispatcher_state_machine = DispatcherMachine.TestCase
