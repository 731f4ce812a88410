"""``netstack demo``: the README's main job, offline, to completion."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli

from netstack.cli.demo import _inversions, _Outcome, _plan
from netstack.options import HttpDataType
from netstack.response import HttpResponse, PerformanceTiming


@pytest.mark.timeout(60)
def test_demo_runs_offline_to_completion_within_30_seconds() -> None:
    result = run_cli("demo", timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    report = result.stdout.decode()
    assert "higher priorities started first (0 out-of-order pairs)" in report
    assert "pass 2 came from the cache" in report
    assert "NO " not in report
    for priority in ("1000", "500", "100", "10"):
        assert f"│ {priority:>8} │" in report
    assert "cache hit ratio" in report


def _outcome(priority: int, queued: float) -> _Outcome:
    response = HttpResponse(
        result=b"",
        result_type=HttpDataType.ARRAY_BUFFER,
        response_code=200,
        header={},
        performance_timing=PerformanceTiming(queue_timing=queued, total_timing=queued + 20),
    )
    return _Outcome(priority, 0, 0.0, response)


@pytest.mark.timeout(10)
def test_inversions_count_clear_out_of_order_starts_only() -> None:
    in_order = [_outcome(1000, 0), _outcome(500, 20), _outcome(1, 40)]
    assert _inversions(in_order) == 0
    jitter = [_outcome(1000, 3), _outcome(500, 0)]  # two workers started together
    assert _inversions(jitter) == 0
    assert _inversions([_outcome(1000, 40), _outcome(500, 0), _outcome(1, 20)]) == 2


@pytest.mark.timeout(10)
def test_plan_spreads_priorities_evenly() -> None:
    priorities = [p for p, _ in _plan(25, seed=1)]
    assert {priorities.count(p) for p in (1000, 500, 100, 10, 1)} == {5}
