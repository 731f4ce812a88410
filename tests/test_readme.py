"""The README's tour runs as written, against the server it tells the reader to start.

The ``netstack serve`` command runs in a subprocess (on a free port instead of
8000), every ```python block of the README runs in order in another one, in
a scratch directory and cache home; the whole tour, crawler included, must end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

pytestmark = pytest.mark.timeout(120)


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)])}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), NO_COLOR="1")
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``netstack serve --port 0``: yields ``127.0.0.1:PORT``; always stopped."""
    with subprocess.Popen(
        [sys.executable, "-m", "netstack", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(tmp_path),
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            found = re.search(r"http://(127\.0\.0\.1:\d+)", first)
            assert found, first
            yield found.group(1)
        finally:
            process.terminate()
            process.wait(10)


def python_blocks(text: str) -> list[str]:
    """The ```python fenced blocks of ``text``, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_the_readme_says_how_to_start_the_server_it_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "netstack serve" in readme
    code = "\n".join(python_blocks(readme))
    assert "127.0.0.1:8000" in code
    assert "example.org/page" not in code  # nothing off this machine


def test_the_tour_runs_as_written_and_ends(served: str, tmp_path: Path) -> None:
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2
    program = "\n".join(blocks).replace("127.0.0.1:8000", served)
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=work,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "2300022 HTTP response code said error. 404 Client Error" in out
    assert "2300007 Failed to connect to the server." in out
    assert "resumed from queue.json" in out
    assert "application/json" in out


@pytest.mark.parametrize("example", ["rest_client.py", "crawl.py"])
def test_the_examples_run_against_the_local_origin(
    served: str, tmp_path: Path, example: str
) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / example), f"http://{served}"],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=tmp_path,
        env=_env(tmp_path),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout
