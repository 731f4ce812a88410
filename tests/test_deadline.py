"""The deadline alarm: fires in due order, skips dead targets, survives a failing callback."""

from __future__ import annotations

import gc
import threading
import time

from netstack.deadline import Alarm


class _Target:
    def __init__(self, name: str) -> None:
        self.name = name


def test_fires_in_due_order_and_only_for_live_targets() -> None:
    alarm = Alarm("test-alarm")
    fired: list[str] = []
    done = threading.Event()

    def fire(target: _Target) -> None:
        fired.append(target.name)
        if target.name == "last":
            done.set()

    keep = [_Target("b"), _Target("a"), _Target("last"), _Target("boom")]
    now = time.monotonic()
    alarm.at(now + 0.2, keep[0], fire)
    alarm.at(now + 0.1, keep[1], fire)
    alarm.at(now + 0.15, keep[3], lambda target: 1 / 0)
    alarm.at(now + 0.3, keep[2], fire)
    alarm.at(now + 0.12, _Target("dropped"), fire)  # no one keeps it
    gc.collect()
    assert done.wait(5)
    assert fired == ["a", "b", "last"]
    assert len(alarm) == 0


def test_an_earlier_deadline_wakes_the_sleeping_thread() -> None:
    alarm = Alarm("test-alarm-2")
    fired = threading.Event()
    late, soon = _Target("late"), _Target("soon")
    alarm.at(time.monotonic() + 60, late, lambda target: None)
    began = time.monotonic()
    alarm.at(time.monotonic() + 0.05, soon, lambda target: fired.set())
    assert fired.wait(5)
    assert time.monotonic() - began < 30
