"""get_default_scheduler(): one lazily created scheduler per process, drained at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from netstack.scheduler import Scheduler, get_default_scheduler
from netstack.scheduler import default as default_module


@pytest.mark.timeout(30)
def test_concurrent_first_calls_get_the_same_scheduler() -> None:
    default_module._default = None
    seen: list[Scheduler] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(get_default_scheduler())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in seen}) == 1
    assert seen[0] is get_default_scheduler()
    assert (seen[0].max_workers, seen[0].max_per_host, seen[0].name) == (32, 8, "netstack")


def test_a_default_shut_down_by_the_caller_is_replaced() -> None:
    first = get_default_scheduler()
    first.shutdown()
    second = get_default_scheduler()
    assert second is not first
    assert get_default_scheduler() is second


@pytest.mark.timeout(60)
def test_queued_work_of_the_default_scheduler_finishes_at_interpreter_exit() -> None:
    script = textwrap.dedent(
        """
        import threading
        import time
        from scheduler_fakes import FakeJob
        from netstack.scheduler import get_default_scheduler

        printing = threading.Lock()

        def slow(job):
            time.sleep(0.2)
            with printing:
                print("ran", job.name, flush=True)

        scheduler = get_default_scheduler()
        for i in range(3):
            scheduler.jobs.submit(FakeJob(i, host="h", on_run=slow))
        print("main done", flush=True)
        """
    )
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "main done"
    assert sorted(lines[1:]) == ["ran 0", "ran 1", "ran 2"]
