"""``netstack batch``: the real console script in a subprocess, against a loopback origin."""

from __future__ import annotations

import base64
import dataclasses
import json
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
from cli_helpers import COMMAND, cli_env, closed_port, jsonl, run_cli, write_lines

from netstack import HttpRequestOptions
from netstack.cli.batch import parse_line

pytestmark = pytest.mark.timeout(90)


def test_every_line_gets_one_output_line_with_its_number_tag_and_outcome(
    origin: str, tmp_path: Path
) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            {"url": f"{origin}/text", "tag": "text"},
            {"url": f"{origin}/echo", "method": "POST", "extraData": {"k": 1},
             "header": {"X-Batch": "yes"}, "tag": {"nested": [1, 2]}},
            {"url": f"{origin}/status/404", "priority": 1000},
            {"url": f"http://127.0.0.1:{closed_port()}/", "tag": 4},
            {"url": f"{origin}/binary", "read_timeout": 5000},
        ],
    )  # fmt: skip
    result = run_cli("batch", str(source), "--no-progress")
    assert result.returncode == 1, result.stderr  # one request failed
    records = {r["line"]: r for r in jsonl(result.stdout)}
    assert sorted(records) == [1, 2, 3, 4, 5]
    assert records[1]["tag"] == "text"
    assert records[1]["result"] == "hello netstack\n"
    assert records[1]["cookies"].count("\n") == 1
    assert set(records[1]) >= {
        "line", "url", "response_code", "header", "cookies", "performance_timing", "from_cache",
    }  # fmt: skip
    echo = json.loads(records[2]["result"])
    assert (echo["method"], echo["headers"]["X-Batch"]) == ("POST", "yes")
    assert json.loads(echo["body"]) == {"k": 1}
    assert records[2]["tag"] == {"nested": [1, 2]}
    assert records[3]["response_code"] == 404
    assert "tag" not in records[3]
    assert records[4]["error"]["code"] == 2300007
    assert records[4]["error"]["message"].startswith("Failed to connect to the server.")
    assert base64.b64decode(records[5]["result_base64"]) == bytes(range(256))
    summary = result.stderr.decode()
    for text in ("status 200", "status 404", "error 2300007", "p50 / p95 / p99", "requests/s"):
        assert text in summary


def test_all_good_exits_0_and_writes_to_out(origin: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"url": f"{origin}/text?{i}"} for i in range(20)])
    out = tmp_path / "out.jsonl"
    result = run_cli("batch", str(source), "--out", str(out), "--workers", "4")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert sorted(r["line"] for r in jsonl(out.read_bytes())) == list(range(1, 21))
    assert re.search(r"requests\s+│\s+20\s", result.stderr.decode())


MALFORMED = [
    "good",
    "not json",
    "[1, 2]",
    '{"no": "url"}',
    "priority 5000",
    "",
    "good",
]


def _malformed_input(origin: str, path: Path) -> Path:
    lines = []
    for item in MALFORMED:
        if item == "good":
            lines.append({"url": f"{origin}/text"})
        elif item == "priority 5000":
            lines.append({"url": f"{origin}/text", "priority": 5000})
        else:
            lines.append(item)
    return write_lines(path, lines)


def test_malformed_lines_are_reported_with_their_number_and_skipped(
    origin: str, tmp_path: Path
) -> None:
    result = run_cli("batch", str(_malformed_input(origin, tmp_path / "in.jsonl")))
    assert result.returncode == 1
    assert sorted(r["line"] for r in jsonl(result.stdout)) == [1, 7]
    stderr = result.stderr.decode()
    for number in (2, 3, 4, 5):
        assert f"line {number}: malformed, skipped" in stderr
    assert "line 6" not in stderr  # a blank line is not malformed
    assert "priority" in stderr
    assert "malformed lines" in stderr


def test_strict_stops_at_the_first_malformed_line(origin: str, tmp_path: Path) -> None:
    source = _malformed_input(origin, tmp_path / "in.jsonl")
    result = run_cli("batch", str(source), "--strict", "--workers", "1", "--window", "1")
    assert result.returncode == 2
    assert [r["line"] for r in jsonl(result.stdout)] == [1]
    assert "line 2: malformed, stopping" in result.stderr.decode()
    assert "line 3" not in result.stderr.decode()


def test_output_comes_in_completion_order(origin: str, tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            {"url": f"{origin}/slow?ms=1500", "tag": "slow"},
            {"url": f"{origin}/text", "tag": "fast"},
        ],
    )
    result = run_cli("batch", str(source), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert [r["tag"] for r in jsonl(result.stdout)] == ["fast", "slow"]


def test_per_host_limits_requests_in_flight_at_the_origin(origin: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"url": f"{origin}/slow?ms=150"}] * 4)
    result = run_cli("batch", str(source), "--workers", "4", "--per-host", "1")
    assert result.returncode == 0, result.stderr
    stats = json.loads(run_cli("get", f"{origin}/stats").stdout)
    assert stats["slow_max"] == 1


def test_save_dir_writes_each_body_and_reports_its_path(origin: str, tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl", [{"url": f"{origin}/binary"}, {"url": f"{origin}/text"}]
    )
    result = run_cli("batch", str(source), "--save-dir", str(tmp_path / "bodies"))
    assert result.returncode == 0, result.stderr
    records = {r["line"]: r for r in jsonl(result.stdout)}
    assert Path(records[1]["path"]).read_bytes() == bytes(range(256))
    assert Path(records[2]["path"]).read_bytes() == b"hello netstack\n"
    assert Path(records[2]["path"]).parent == tmp_path / "bodies"
    assert "result" not in records[1]
    assert "result_base64" not in records[1]


def test_cache_dir_answers_a_second_run_from_the_cache(origin: str, tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl", [{"url": f"{origin}/cacheable/{i}"} for i in range(5)]
    )
    cache = str(tmp_path / "cache")
    first = run_cli("batch", str(source), "--cache-dir", cache)
    second = run_cli("batch", str(source), "--cache-dir", cache)
    assert first.returncode == second.returncode == 0, (first.stderr, second.stderr)
    assert not any(r["from_cache"] for r in jsonl(first.stdout))
    assert all(r["from_cache"] for r in jsonl(second.stdout))
    assert "100.0%" in second.stderr.decode()


def test_progress_can_be_forced_without_touching_stdout(origin: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"url": f"{origin}/text?{i}"} for i in range(5)])
    result = run_cli("batch", str(source), "--progress")
    assert result.returncode == 0, result.stderr
    assert len(jsonl(result.stdout)) == 5
    assert b"5/5" in result.stderr


def test_an_unreadable_input_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("batch", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert b"missing.jsonl" in result.stderr


class _Running:
    """``netstack batch -`` in a subprocess, fed and read line by line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "batch", "-", "--no-progress", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(),
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.stderr = b""
        self._threads = [
            threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._errors, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.lines.put(line)

    def _errors(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def feed(self, *items: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"".join(json.dumps(i).encode() + b"\n" for i in items))
        self.process.stdin.flush()

    def read(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return [
            json.loads(self.lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            for _ in range(count)
        ]

    def finish(self, timeout: float = 30) -> tuple[int, list[dict[str, Any]], str]:
        code = self.process.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        rest = []
        while not self.lines.empty():
            rest.append(json.loads(self.lines.get()))
        return code, rest, self.stderr.decode()

    def kill(self) -> None:
        """Stop the process if it still runs; close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for thread in self._threads:
            thread.join(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def test_input_is_read_lazily_and_results_stream_before_the_input_ends(origin: str) -> None:
    batch = _Running("--workers", "2")
    try:
        batch.feed({"url": f"{origin}/text", "tag": 1})
        assert [r["tag"] for r in batch.read(1)] == [1]  # stdin is still open
        batch.feed({"url": f"{origin}/text", "tag": 2})
        assert [r["tag"] for r in batch.read(1)] == [2]
        assert batch.process.stdin is not None
        batch.process.stdin.close()
        code, rest, _ = batch.finish()
        assert (code, rest) == (0, [])
    finally:
        batch.kill()


def test_ctrl_c_cancels_the_queue_keeps_every_completed_result_and_exits_130(
    origin: str,
) -> None:
    batch = _Running("--workers", "1", "--window", "4")
    try:
        batch.feed({"url": f"{origin}/text", "tag": "a"}, {"url": f"{origin}/text", "tag": "b"})
        done = batch.read(2)
        batch.feed(*[{"url": f"{origin}/slow?ms=1500", "tag": f"slow{i}"} for i in range(6)])
        time.sleep(0.5)  # slow0 runs; slow1..3 wait in the queue; the reader waits for room
        batch.process.send_signal(signal.SIGINT)
        code, rest, stderr = batch.finish()
    finally:
        batch.kill()
    assert code == 130, stderr
    assert [r["tag"] for r in done] == ["a", "b"]
    assert [(r["tag"], r["response_code"]) for r in rest] == [("slow0", 200)]  # it finished
    assert "interrupted" in stderr
    assert "cancelled" in stderr
    assert "status 200" in stderr  # the summary


def test_parse_line_carries_the_tag_and_keeps_options() -> None:
    line = parse_line(3, b'{"url": "http://x/", "tag": [1], "priority": 9, "readTimeout": 5}\n')
    assert line is not None
    assert (line.number, line.url, line.tag, line.has_tag) == (3, "http://x/", [1], True)
    assert line.options == {"priority": 9, "readTimeout": 5}  # only a str tag is an option
    named = parse_line(1, b'{"url": "http://x/", "tag": "group"}')
    assert named is not None
    assert named.tag == "group"
    if "tag" in {f.name for f in dataclasses.fields(HttpRequestOptions)}:
        assert named.options == {"tag": "group"}
    else:
        assert named.options == {}
    assert parse_line(4, b"  \n") is None
