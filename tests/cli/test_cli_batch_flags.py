"""``netstack batch``: plain URL lists, the global request flags, attempts, the progress total.

Each test runs the real command in a subprocess against a loopback origin
(127.0.0.1; 127.0.0.2 is another host on the same machine).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from cli_helpers import closed_port, jsonl, run_cli, write_lines

from netstack.cli.batch import parse_line
from netstack.cli.batch_flags import count_lines, merge_defaults

pytestmark = pytest.mark.timeout(90)


def test_a_plain_url_list_with_comments_and_blank_lines(origin: str, tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "urls.txt",
        [
            "# the pages to fetch",
            f"{origin}/text",
            "",
            f'{{"url": "{origin}/echo", "method": "PATCH", "extraData": "x", "tag": "j"}}',
            "   # an indented comment",
            f"  {origin}/status/404  ",
        ],
    )
    result = run_cli("batch", str(source), "--no-progress")
    assert result.returncode == 0, result.stderr
    records = {r["line"]: r for r in jsonl(result.stdout)}
    assert sorted(records) == [2, 4, 6]
    assert records[2]["result"] == "hello netstack\n"
    assert records[4]["tag"] == "j"
    assert '"method": "PATCH"' in records[4]["result"]
    assert records[6]["response_code"] == 404
    assert b"malformed" not in result.stderr


def test_a_plain_line_with_spaces_is_malformed_and_reported(origin: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "urls.txt", [f"{origin}/text", "not a url"])
    result = run_cli("batch", str(source), "--no-progress")
    assert result.returncode == 1
    assert [r["line"] for r in jsonl(result.stdout)] == [1]
    assert b"line 2: malformed" in result.stderr


@pytest.mark.parametrize(
    ("raw", "url", "options"),
    [
        (b"http://a/x\n", "http://a/x", {}),
        (b"  https://a/x?q=1  \r\n", "https://a/x?q=1", {}),
        (b'{"url": "http://a/", "priority": 5}\n', "http://a/", {"priority": 5}),
        (b"# http://a/\n", None, None),
        (b"\n", None, None),
    ],
)
def test_each_line_is_detected_on_its_own(
    raw: bytes, url: str | None, options: dict[str, int] | None
) -> None:
    line = parse_line(3, raw)
    if url is None:
        assert line is None
    else:
        assert line is not None
        assert (line.url, line.options) == (url, options)


def test_every_output_line_has_attempts(origin: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/"
    source = write_lines(
        tmp_path / "urls.txt",
        [f"{origin}/status/503", dead, f"{origin}/text", "http://127.0.0.2:9/blocked"],
    )
    result = run_cli("batch", str(source), "--no-progress", "--retry", "2", "--block", "127.0.0.2")
    records = {r["line"]: r for r in jsonl(result.stdout)}
    assert records[1]["response_code"] == 503
    assert records[1]["attempts"] == 3
    assert records[2]["error"]["code"] == 2300007
    assert records[2]["attempts"] == 3
    assert (records[3]["response_code"], records[3]["attempts"]) == (200, 1)
    assert (records[4]["error"]["code"], records[4]["attempts"]) == (2300998, 0)
    once = run_cli("batch", str(source), "--no-progress")
    assert [r["attempts"] for r in sorted(jsonl(once.stdout), key=lambda r: r["line"])] == [
        1,
        1,
        1,
        1,
    ]


def test_timeout_applies_to_lines_that_set_none(origin: str, tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [f"{origin}/slow?ms=1500", {"url": f"{origin}/slow?ms=1500", "readTimeout": 10000}],
    )
    result = run_cli("batch", str(source), "--no-progress", "--timeout", "300")
    records = {r["line"]: r for r in jsonl(result.stdout)}
    assert records[1]["error"]["code"] == 2300028
    assert records[2]["response_code"] == 200


def test_priority_is_the_default_of_lines_that_set_none(origin: str, tmp_path: Path) -> None:
    source = write_lines(
        tmp_path / "in.jsonl",
        [
            {"url": f"{origin}/slow?ms=1500", "priority": 1000},  # holds the one worker
            {"url": f"{origin}/text?low", "priority": 1},
            f"{origin}/text?default",
        ],
    )
    result = run_cli(
        "batch", str(source), "--no-progress", "--workers", "1", "--per-host", "1",
        "--priority", "900",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [r["line"] for r in jsonl(result.stdout)] == [1, 3, 2]


def test_delay_spaces_request_starts_to_one_host(origin: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "urls.txt", [f"{origin}/text?{i}" for i in range(3)])
    started = time.monotonic()
    result = run_cli("batch", str(source), "--no-progress", "--delay", "0.4")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 0.8  # two gaps of 0.4 s, at least
    assert len(jsonl(result.stdout)) == 3


def test_rate_bounds_request_starts_per_second_to_one_host(origin: str, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "urls.txt", [f"{origin}/text?{i}" for i in range(4)])
    started = time.monotonic()
    result = run_cli("batch", str(source), "--no-progress", "--rate", "4/s")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 0.75  # 4 starts at 4/s with a burst of 1
    assert len(jsonl(result.stdout)) == 4


def test_allow_and_block_apply_host_rules(origin: str, tmp_path: Path) -> None:
    port = origin.rsplit(":", 1)[1]
    other = f"http://127.0.0.2:{port}/text"
    source = write_lines(tmp_path / "urls.txt", [f"{origin}/text", other])
    allowed = run_cli("batch", str(source), "--no-progress", "--allow", "127.0.0.1")
    records = {r["line"]: r for r in jsonl(allowed.stdout)}
    assert records[1]["response_code"] == 200
    assert records[2]["error"]["code"] == 2300998
    blocked = run_cli("batch", str(source), "--no-progress", "--block", "127.0.0.1")
    records = {r["line"]: r for r in jsonl(blocked.stdout)}
    assert records[1]["error"]["code"] == 2300998


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--retry", "-1"], b"--retry"),
        (["--rate", "fast"], b"--rate"),
        (["--rate", "0/s"], b"--rate"),
        (["--delay", "-1"], b"min_delay"),
    ],
)
def test_bad_flag_values_exit_2(
    origin: str, tmp_path: Path, flags: list[str], message: bytes
) -> None:
    source = write_lines(tmp_path / "urls.txt", [f"{origin}/text"])
    result = run_cli("batch", str(source), "--no-progress", *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == b""


def _frames(stderr: bytes) -> bytes:
    return re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", stderr)


def test_the_progress_bar_has_a_total_and_an_eta_for_a_file(origin: str, tmp_path: Path) -> None:
    lines = ["# three slow requests", *[f"{origin}/slow?ms=700&i={i}" for i in range(3)]]
    source = write_lines(tmp_path / "urls.txt", lines)
    args = ("--progress", "--workers", "1", "--per-host", "1")
    result = run_cli("batch", str(source), *args)
    assert result.returncode == 0, result.stderr
    screen = _frames(result.stderr)
    assert re.search(rb"\b[0-3]/4\b", screen), screen  # the total, while it ran
    assert b"4/4" in screen
    assert b"eta" in screen
    piped = _frames(run_cli("batch", "-", *args, input=source.read_bytes()).stderr)
    assert re.search(rb"\b[0-3]/\?", piped), piped  # stdin: no total while it ran
    assert not re.search(rb"\b[0-3]/4\b", piped)


def test_count_lines_counts_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "f"
    for data, lines in [(b"", 0), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"\n\n", 2)]:
        path.write_bytes(data)
        assert count_lines(str(path)) == lines
    assert count_lines(str(tmp_path)) is None
    assert count_lines(str(tmp_path / "missing")) is None


def test_merge_defaults_keeps_a_lines_own_value_under_either_spelling() -> None:
    defaults = {"read_timeout": 5, "priority": 9}
    assert merge_defaults({"readTimeout": 1}, defaults) == {"readTimeout": 1, "priority": 9}
    assert merge_defaults({"priority": 2}, defaults) == {"priority": 2, "read_timeout": 5}
    assert merge_defaults({}, {}) == {}
