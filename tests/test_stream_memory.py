"""request_in_stream keeps memory flat: 1 GiB through it, peak RSS grows < 64 MiB."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

_PROGRAM = textwrap.dedent(
    """
    import resource, sys
    import netstack
    from tests.servers.streaming_origin import streaming_origin

    SIZE = 1 << 30
    with streaming_origin() as base, netstack.Scheduler(max_workers=1) as scheduler:
        warm = netstack.create_http(scheduler)
        warm.request_in_stream(base + "/length?size=1048576").result(timeout=60)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        http = netstack.create_http(scheduler)
        total = 0
        def count(chunk):
            global total
            total += len(chunk)
        http.on("dataReceive", count)
        code = http.request_in_stream(base + f"/length?size={SIZE}").result(timeout=240)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(code, total, (after - before) * 1024)
    """
)


def test_one_gib_stream_keeps_peak_rss_growth_under_64_mib() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROGRAM],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    code, total, growth = (int(x) for x in result.stdout.split())
    assert code == 200
    assert total == 1 << 30
    assert growth < 64 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.1f} MiB"
