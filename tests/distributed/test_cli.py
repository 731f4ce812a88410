"""``netstack batch --redis`` and ``netstack worker``: the commands around the shared queue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.distributed.servers import child_env, free_port, worker_command

from netstack import RedisQueue


def _netstack(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "netstack.cli", *args],
        input=stdin,
        capture_output=True,
        env=child_env(),
        timeout=30,
        check=False,
    )


def test_batch_redis_enqueues_the_lines_and_skips_malformed_ones(
    redis_url: str, queue_name: str, tmp_path: Path
) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        '{"url": "http://127.0.0.1:9/a", "priority": 5, "tag": "x"}\n'
        "not json\n"
        '{"url": "http://127.0.0.1:9/b"}\n'
    )
    done = _netstack("batch", str(lines), "--redis", redis_url, "--queue", queue_name)
    assert done.returncode == 1, done.stderr  # a line was skipped
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["line"], r.get("tag")) for r in records] == [(1, "x"), (3, None)]
    assert "queued 2 requests" in done.stderr.decode()
    queue = RedisQueue(redis_url, queue_name)
    try:
        assert len(queue) == 2
        assert queue.cancel(records[0]["id"])
        queue.clear()
    finally:
        queue.close()


def test_worker_with_redis_unreachable_fails_fast_naming_the_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        worker_command(url, "q"), capture_output=True, env=child_env(), timeout=30, check=False
    )
    assert done.returncode == 1
    assert url in done.stderr.decode()
    assert "2300007" in done.stderr.decode()
