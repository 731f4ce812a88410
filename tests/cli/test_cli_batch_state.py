"""``netstack batch --state DIR``: interrupted by a signal, resumed by a second run."""

from __future__ import annotations

import json
import queue
import signal
import stat
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from cli_helpers import COMMAND, cli_env, jsonl, run_cli, write_lines

LINES = 24


def _input(origin: str, path: Path) -> Path:
    items: list[object] = []
    for i in range(1, LINES + 1):
        if i == 5:
            items.append("")  # a blank line still counts
        else:
            items.append({"url": f"{origin}/slow?ms=250&i={i}", "tag": f"t{i}"})
    items[9] = {"url": f"{origin}/slow?ms=250&i=10", "tag": {"n": 10}}  # any JSON tag
    items[11] = {"url": f"{origin}/slow?ms=250&i=12"}  # no tag
    return write_lines(path, items)


def _interrupt(
    args: list[str], sig: int, after: int, timeout: float = 30
) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``netstack ARGS``; send ``sig`` once ``after`` output lines came; return all."""
    process = subprocess.Popen(
        [*COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    lines: queue.Queue[bytes] = queue.Queue()
    errors: list[bytes] = []

    def pump(stream: IO[bytes]) -> None:
        for line in stream:
            lines.put(line)

    assert process.stdout is not None
    assert process.stderr is not None
    stderr = process.stderr
    threads = [
        threading.Thread(target=pump, args=(process.stdout,), daemon=True),
        threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        out = [json.loads(lines.get(timeout=timeout)) for _ in range(after)]
        process.send_signal(sig)
        code = process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    for thread in threads:
        thread.join(5)
    process.stdout.close()
    process.stderr.close()
    while not lines.empty():
        out.append(json.loads(lines.get()))
    return code, out, b"".join(errors).decode()


def _check_state_dir(state: Path) -> dict[str, Any]:
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for entry in state.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600, entry
    document: dict[str, Any] = json.loads((state / "state.json").read_text())
    return document


def _check_all_lines(records: list[dict[str, Any]]) -> None:
    numbers = sorted(r["line"] for r in records)
    assert numbers == [n for n in range(1, LINES + 1) if n != 5]  # once each, none lost
    for record in records:
        assert f"i={record['line']}" in record["url"]
        assert record["response_code"] == 200
        if record["line"] == 10:
            assert record["tag"] == {"n": 10}
        elif record["line"] == 12:
            assert "tag" not in record
        else:
            assert record["tag"] == f"t{record['line']}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_batch_resumes_without_loss_or_duplicates(
    origin: str, tmp_path: Path, sig: int
) -> None:
    source = _input(origin, tmp_path / "in.jsonl")
    state = tmp_path / "state"
    args = ["batch", str(source), "--state", str(state), "--no-progress"]
    args += ["--workers", "2", "--window", "6"]
    code, first, stderr = _interrupt(args, sig, after=3)
    assert code == 130, stderr
    assert "saved" in stderr
    document = _check_state_dir(state)
    assert 1 < document["next_line"] <= LINES  # stopped part way
    assert document["lines"]  # requests were waiting
    persisted = {info["line"] for info in document["lines"].values()}
    assert not persisted & {r["line"] for r in first}
    assert max(persisted) < document["next_line"]

    second = run_cli(*args, timeout=60)
    assert second.returncode == 0, second.stderr
    assert b"resumed" in second.stderr
    _check_all_lines(first + jsonl(second.stdout))
    assert not state.exists()  # the batch completed: its state is gone


@pytest.mark.timeout(120)
def test_resuming_with_out_appends_and_stdin_continues_from_the_saved_line(
    origin: str, tmp_path: Path
) -> None:
    source = _input(origin, tmp_path / "in.jsonl")
    state, out = tmp_path / "state", tmp_path / "out.jsonl"
    args = ["batch", str(source), "--state", str(state), "--no-progress", "--workers", "2"]
    code, first, stderr = _interrupt([*args, "--window", "4"], signal.SIGINT, after=2)
    assert code == 130, stderr
    next_line = _check_state_dir(state)["next_line"]
    rest = b"".join(source.read_bytes().splitlines(keepends=True)[next_line - 1 :])
    second = run_cli(
        "batch", "-", "--state", str(state), "--out", str(out), "--no-progress", input=rest
    )
    assert second.returncode == 0, second.stderr
    _check_all_lines(first + jsonl(out.read_bytes()))
    assert not state.exists()


@pytest.mark.timeout(60)
def test_a_state_of_another_input_is_refused(origin: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(
        json.dumps(
            {
                "format": "netstack-batch-state",
                "version": 1,
                "input": str(tmp_path / "other.jsonl"),
                "next_line": 3,
                "queues": [],
                "lines": {},
            }
        )
    )
    source = write_lines(tmp_path / "in.jsonl", [{"url": f"{origin}/text"}])
    result = run_cli("batch", str(source), "--state", str(state))
    assert result.returncode == 2
    assert b"other.jsonl" in result.stderr
    assert (state / "state.json").exists()  # left alone
    redis = run_cli("batch", str(source), "--state", str(state), "--redis", "redis://x/0")
    assert redis.returncode == 2
    assert b"--state" in redis.stderr


@pytest.mark.timeout(60)
def test_a_completed_batch_leaves_no_state_and_help_documents_it(
    origin: str, tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [{"url": f"{origin}/text?{i}"} for i in range(5)])
    state = tmp_path / "state"
    result = run_cli("batch", str(source), "--state", str(state))
    assert result.returncode == 0, result.stderr
    assert len(jsonl(result.stdout)) == 5
    assert not state.exists()
    text = run_cli("batch", "--help").stdout.decode()
    assert "--state DIR" in text
    assert "SIGTERM" in text
    assert "tail -n +NEXT" in text
