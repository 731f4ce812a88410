"""``netstack get`` as curl and HTTPie users expect: no scheme, -o, -f, --max-redirs, -m.

Each test runs the real command in a subprocess against a loopback origin.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import cli_env, run_cli

from netstack.cli.get import with_scheme

pytestmark = pytest.mark.timeout(90)


def test_a_url_without_a_scheme_gets_http(origin: str) -> None:
    bare = origin.removeprefix("http://")
    result = run_cli("get", f"{bare}/text")
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == b"hello netstack\n"


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("127.0.0.1:8081/x", "http://127.0.0.1:8081/x"),
        ("localhost", "http://localhost"),
        ("  example.org/a?b=c ", "http://example.org/a?b=c"),
        ("https://example.org/", "https://example.org/"),
        ("HTTP://example.org/", "HTTP://example.org/"),
        ("ftp://example.org/", "ftp://example.org/"),
    ],
)
def test_with_scheme_adds_http_only_when_no_scheme_is_given(given: str, sent: str) -> None:
    assert with_scheme(given) == sent


def test_output_writes_the_body_to_a_file_and_nothing_to_stdout(
    origin: str, tmp_path: Path
) -> None:
    target = tmp_path / "body.bin"
    result = run_cli("get", "-o", str(target), f"{origin}/binary")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert target.read_bytes() == bytes(range(256))
    result = run_cli("get", "--output", str(target), "-i", f"{origin}/text")
    assert result.returncode == 0
    assert target.read_bytes().startswith(b"HTTP 200 OK\r\n")
    assert target.read_bytes().endswith(b"\r\n\r\nhello netstack\n")


def test_output_to_an_unwritable_place_exits_1(origin: str, tmp_path: Path) -> None:
    result = run_cli("get", "-o", str(tmp_path / "missing" / "x"), f"{origin}/text")
    assert result.returncode == 1
    assert b"cannot write" in result.stderr


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_fail_exits_22_on_4xx_and_5xx_without_the_body(
    origin: str, tmp_path: Path, status: int
) -> None:
    target = tmp_path / "out"
    result = run_cli("get", "-f", "-o", str(target), f"{origin}/status/{status}")
    assert result.returncode == 22
    assert result.stdout == b""
    assert not target.exists()
    assert str(status).encode() in result.stderr
    without = run_cli("get", f"{origin}/status/{status}")
    assert (without.returncode, without.stdout) == (0, f"status {status}".encode())


@pytest.mark.parametrize("status", [200, 204, 302])
def test_fail_exits_0_below_400(origin: str, status: int) -> None:
    result = run_cli("get", "--fail", "--max-redirs", "0", f"{origin}/status/{status}")
    assert result.returncode == 0, result.stderr


def test_max_redirs_bounds_the_redirects_followed(httpbin: Any) -> None:
    url = f"{httpbin.url}/redirect/3"
    assert run_cli("get", "--max-redirs", "3", url).returncode == 0
    too_many = run_cli("get", "--max-redirs", "2", url)
    assert too_many.returncode == 1
    assert b"2300047" in too_many.stderr
    itself = run_cli("get", "-i", "--max-redirs", "0", url)
    assert itself.returncode == 0
    assert itself.stdout.startswith(b"HTTP 302 Found\r\n")
    bad = run_cli("get", "--max-redirs", "-1", url)
    assert bad.returncode == 2
    assert b"max_redirects" in bad.stderr


def test_python_dash_m_netstack_runs_the_command(origin: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netstack", "get", f"{origin}/text"],
        capture_output=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"hello netstack\n", b"")
    version = subprocess.run(
        [sys.executable, "-m", "netstack", "--version"],
        capture_output=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )
    assert version.returncode == 0
    assert version.stdout.startswith(b"netstack ")
