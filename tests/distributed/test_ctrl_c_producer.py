"""Ctrl-C on a producer script: its requests still waiting in Redis are taken out."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from tests.distributed.servers import child_env

from netstack import RedisQueue

pytestmark = pytest.mark.timeout(60)

_SCRIPT = textwrap.dedent(
    """
    import signal  # as in a terminal: a test runner started in the background
    signal.signal(signal.SIGINT, signal.default_int_handler)  # may ignore SIGINT
    import sys, time
    from netstack import RedisQueue, Scheduler

    scheduler = Scheduler(queue=RedisQueue(sys.argv[1], sys.argv[2]))
    futures = [scheduler.submit(f"http://127.0.0.1:9/{i}") for i in range(50)]
    print("queued", flush=True)
    futures[-1].result()  # no worker runs: Ctrl-C lands here
    """
)


@pytest.mark.parametrize("interrupted", [True, False])
def test_ctrl_c_takes_the_producers_waiting_requests_out_of_redis(
    interrupted: bool, redis_url: str, queue_name: str
) -> None:
    script = _SCRIPT if interrupted else _SCRIPT.replace("futures[-1].result()", "pass")
    with subprocess.Popen(
        [sys.executable, "-c", script, redis_url, queue_name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"queued"
        if interrupted:
            process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    queue = RedisQueue(redis_url, queue_name)
    try:
        stats = queue.stats()
    finally:
        queue.close()
    assert stats.submitted == 50
    if interrupted:
        assert b"KeyboardInterrupt" in err
        assert (stats.waiting, stats.cancelled) == (0, 50)
    else:  # a normal exit leaves them to the workers, as before
        assert process.returncode == 0, err.decode()
        assert (stats.waiting, stats.cancelled) == (50, 0)
